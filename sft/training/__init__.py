"""One run: build the module and data from the config, fit, test with the best checkpoint,
checkpoint and resume, precision, DDP ranks, and the files a run writes.

`sft.training.run.train(cfg)` is the whole run; the other modules are its parts.
"""
