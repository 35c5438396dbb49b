"""What a built catalog holds, and under which names: the layouts every layer may read.

`labels` is the label collection's asset table, `outputs` what processing one scene gives its
item, `catalog` the builder's own files in a catalog folder, `media` the media types pystac
lacks; `imagery` is the `alcd-l1c` collection (the L1C bands behind each label item). The
builder names its files from here, and the validator, the servers and the scorers read them.
"""
