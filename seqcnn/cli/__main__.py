from seqcnn.cli import main

main()
