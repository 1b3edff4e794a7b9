"""Training: dataset build and loading, the models, losses, the trainer, distributed runs, plots (uses torch)."""
