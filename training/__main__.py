"""`python -m training ARGS` = `segue train ARGS`; the form torchrun needs:

    torchrun --standalone --nproc_per_node=2 -m training --data data/bach --out runs/ddp
"""
import sys

from training.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
