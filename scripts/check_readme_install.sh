#!/usr/bin/env bash
# Prove that every command works after the README's install alone: a fresh virtual environment gets
# only `pip install torch==2.13.0 -e .` (no extras), then each command below must exit 0 on the
# example data. Usage: scripts/check_readme_install.sh [VENV_DIR]  (default: a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
venv=${1:-$work/venv}
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg

python -m venv "$venv"
# README install command (only what it says):
"$venv/bin/pip" install -q torch==2.13.0 -e .
echo "ok  pip install torch==2.13.0 -e .  ($SECONDS s)"
seqcnn=("$venv/bin/seqcnn")
ex=data/example
model=$ex/model.safetensors
head -4 "$ex/sequences.fa" > "$work/two.fa"
head -40 "$ex/sequences.fa" > "$work/twenty.fa"

step() {
    local name=$1; shift
    local t0=$SECONDS
    if ! "$@" >"$work/log" 2>&1; then
        echo "check_readme_install: FAILED: $name" >&2
        tail -20 "$work/log" >&2
        exit 1
    fi
    echo "ok  $name  ($((SECONDS - t0)) s)"
}

# a fresh environment must not see the packages of the one that runs this script
step "no extras installed" "$venv/bin/python" -c "
import importlib.util as u, sys
extra = [m for m in ('pytest', 'hypothesis', 'onnxruntime') if u.find_spec(m)]
sys.exit(f'test-only packages present: {extra}' if extra else 0)"
step "seqcnn demo --quick" "${seqcnn[@]}" demo --quick -o "$work/demo" --quiet
for method in saliency input_x_grad ig deepliftshap occlusion gradcam; do
    step "seqcnn explain --method $method" \
        "${seqcnn[@]}" explain "$model" "$work/two.fa" --method "$method" -o "$work/explain_$method.npz" --quiet
done
step "seqcnn export .onnx" "${seqcnn[@]}" export "$model" -o "$work/model.onnx"
step "seqcnn export .pt" "${seqcnn[@]}" export "$model" -o "$work/model.pt"
step "seqcnn ism" "${seqcnn[@]}" ism "$model" "$work/two.fa" -o "$work/ism.npz" --quiet
step "seqcnn motifs" "${seqcnn[@]}" motifs "$model" "$work/twenty.fa" -o "$work/motifs" --examples 1 \
    --influence-sequences 20 --quiet
step "seqcnn modisco" "${seqcnn[@]}" modisco "$model" "$ex/sequences.fa" -o "$work/modisco" --quiet
step "seqcnn marginalize" "${seqcnn[@]}" marginalize "$model" CTCF --jaspar -n 20 -o "$work/marginalize.tsv" \
    --plot "$work/marginalize.png" --quiet
step "seqcnn spacing" "${seqcnn[@]}" spacing "$model" ATTGCGCAAT GGGGCGGGG --max-distance 5 -n 10 \
    -o "$work/spacing.tsv" --plot "$work/spacing.svg" --quiet
step "seqcnn ablate" "${seqcnn[@]}" ablate "$model" "$work/two.fa" --span 90:110 -o "$work/ablate.tsv" --quiet
step "seqcnn vep" "${seqcnn[@]}" vep "$model" "$ex/variants.vcf" --genome "$ex/genome.fa" \
    -o "$work/vep.tsv" --quiet
cp "$ex/genome.fa" "$work/genome.fa"  # a copy: pyfaidx may write its index beside it
step "seqcnn score --window -o x.bw" "${seqcnn[@]}" score "$model" "$work/genome.fa" --window 200 --step 100 \
    --task CTCF -o "$work/ctcf.bw" --quiet
step "seqcnn dataset --positives-fasta" "${seqcnn[@]}" dataset \
    --positives-fasta data/examples/Gm12878.CTCF.top500.w200.fa:CTCF -o "$work/ctcf" --quiet
# "Use a published model": the released SpliceAI package (GPL-3.0, fetched, never committed) imported
step "pip download spliceai==1.3.1" "$venv/bin/pip" download -q --no-deps spliceai==1.3.1 -d "$work/spliceai_pkg"
step "seqcnn import spliceai" "${seqcnn[@]}" import spliceai "$work"/spliceai_pkg/spliceai-1.3.1-*.whl \
    -o "$work/spliceai.safetensors"
echo "check_readme_install: every command exited 0 after the README install ($SECONDS s)"
