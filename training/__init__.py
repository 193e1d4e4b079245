"""Neural surrogates of the m-height: data loading, models, training, evaluation and prediction.

Depends on torch, numpy, pyarrow, click, tqdm and matplotlib only (no Ray, no solver; of
pipeline/ only the data contract and the CLI conventions), so it runs on GPU nodes that have
nothing else installed.
"""
