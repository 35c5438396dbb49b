"""Where the data comes from: the Zenodo record, the download, the archive, its scene folders."""
