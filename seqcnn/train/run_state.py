"""What a :class:`~seqcnn.train.trainer.Trainer` writes about itself and reads back on resume.

``run_metadata`` is the model file's metadata (with the training summary), ``checkpoint_state``
the resume state saved by ``seqcnn.train.checkpoint``, ``restore_checkpoint`` puts that state back
into a freshly built trainer (refusing a checkpoint whose data or model settings differ).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import yaml

from seqcnn.config import config_to_dict
from seqcnn.errors import ConfigError
from seqcnn.modelfile import ModelMetadata
from seqcnn.train import checkpoint as ckpt
from seqcnn.train.build import extend_scheduler

if TYPE_CHECKING:
    from seqcnn.train.trainer import Trainer

# trainer attributes saved and restored as they are
_COUNTERS = ("epoch", "step", "global_step", "best", "best_epoch", "bad_epochs", "stopped", "history")


def run_metadata(t: Trainer, test: dict[str, float]) -> ModelMetadata:
    """The model file's metadata for the run, with its training summary and ``test`` metrics."""
    summary = {
        "epochs_run": t.epoch,
        "best_epoch": t.best_epoch,
        "monitor": t.monitor,
        "best_value": t.best,
        "loss": t.loss_name,
        "optimizer": t.cfg.train.optimizer,
        "lr": t.cfg.train.lr,
        "batch_size": t.cfg.data.batch_size,
        "seed": t.cfg.train.seed,
        "precision": t.cfg.train.precision,
        "world_size": t.dist.world_size,
        "data": t.cfg.data.kind,
        "n_train": len(t.data.train),
        "n_valid": len(t.data.valid),
        "n_test": len(t.data.test),
        "test": test,
    }
    return ModelMetadata(
        architecture=t.cfg.model.name,
        model_kwargs=t.kwargs,
        tasks=t.data.tasks,
        task_type=t.data.task_type,
        alphabet="dna",
        input_length=t.data.input_length,
        input_shape=list(t.data.input_shape),
        rc_mode=t.cfg.model.rc_mode,
        training=summary,
    )


def checkpoint_state(t: Trainer, ranks: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Everything a resumed run needs; ``ranks`` holds every rank's RNG and loss state."""
    return {
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict() if t.scheduler is not None else {},
        "best_model": t.best_state or {},
        **{key: getattr(t, key) for key in _COUNTERS},
        "running": [float(t.running[0]), int(t.running[1])],
        "config": yaml.safe_dump(config_to_dict(t.cfg), sort_keys=True),
        "rng": ckpt.rng_states(t.generator),
        "ranks": ranks,
    }


def restore_checkpoint(t: Trainer, state: dict[str, Any]) -> None:
    """Load a checkpoint into a trainer.

    A run resumed with a different ``train.epochs`` gets the learning-rate schedule of that epoch
    count, replayed to the epoch (or step) reached, instead of the saved schedule (which, for a
    finished cosine run, would train on at a learning rate of 0).

    Parameters
    ----------
    t
        The trainer, set up for the resumed run's config; changed in place.
    state
        What :func:`checkpoint_state` saved.

    Raises
    ------
    ConfigError
        The saved data or model settings differ from the run's.
    """
    saved = yaml.safe_load(state["config"])
    current = config_to_dict(t.cfg)
    for section in ("data", "model"):
        if saved.get(section) != current[section]:
            raise ConfigError(
                f"--resume: the {section} section differs from the run's config.yaml; "
                "resume with the same data and model settings",
                file=str(t.paths["config"]),
            )
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    if t.scheduler is not None and state["scheduler"]:
        t.scheduler.load_state_dict(state["scheduler"])
    t.best_state = state["best_model"] or None
    for key in _COUNTERS:
        setattr(t, key, state[key])
    t.running = list(state["running"])
    if saved.get("train", {}).get("epochs") != t.cfg.train.epochs:  # more (or fewer) epochs than saved
        t.scheduler = extend_scheduler(t.cfg.train, t.optimizer, t.scheduler, steps_per_epoch=t.n_batches,
                                       epochs_done=t.epoch, steps_done=t.global_step)
    ckpt.restore_rng_states(state["rng"], t.generator)
    ranks = state.get("ranks") or {}
    if t.dist.enabled and len(ranks.get("data", ())) == t.dist.world_size:
        rank = t.dist.rank  # each rank continues its own random streams and loss sums
        t.generator.set_state(ranks["data"][rank].clone())  # a view (storage offset) crashes torch
        torch.set_rng_state(ranks["torch"][rank].clone())
        t.running = [float(ranks["running"][rank, 0]), int(ranks["running"][rank, 1])]
