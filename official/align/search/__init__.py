# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Cross-modal search over image collections (ScaNN or exact; see
`search_lib`, CLI: `python -m official.align.search build|search|serve
--help`; the search page: `server`)."""
