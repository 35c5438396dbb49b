"""What a built catalog holds, and under which names: the layouts every layer may read.

`imagery` is the `alcd-l1c` collection (the L1C bands behind each label item). The label
collection's asset table moves here too (issue 19), so that the builder, the validator, the
servers and the scorers name files from one table.
"""
