"""The LightningModule and its parts: backbone, pooling, heads, losses, regularizers, optimizers."""
