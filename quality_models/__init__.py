"""The models the filters need, trained by the project itself (none can be downloaded at run time)."""
