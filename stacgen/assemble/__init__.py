"""From scene folders to files: labels, COGs, samples, one scene, the orchestrated build."""
