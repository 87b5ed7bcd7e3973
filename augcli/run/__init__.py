"""Running one expand over many machines: shards, buckets (the unit of output and resume), the
merge of the per-bucket manifest parts, and the executors that run buckets (local pool, Dask)."""
