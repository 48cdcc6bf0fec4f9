"""The one independent judge of the on-disk format: reads and writes `.jsonl` and `.jsonl.zst` itself.

It never goes through a store under test; the suite, the state machine, the race harness's checker
and reader-check all judge a home through it, and its generators build the homes they judge.
"""
