"""Classifier artifacts on disk: a fitted estimator and the manifest that vouches for it.

models/
  CURRENT               the active version's name, on one line
  HISTORY               every switch of CURRENT, one JSON line each
  <version>/
    estimator.joblib    the pickled estimator, unpickled only if its sha256 matches
    manifest.json       Manifest: encoder, features, library versions, data, metrics, sha256
    report/, MODEL_CARD.md

manifest.py   Manifest (pydantic), read_manifest, check_encoder
store.py      save_artifact (staged, renamed into place whole), load_artifact (verified),
              load_as_built (for the encoder its own manifest names)
versions.py   version names, list_versions, CURRENT (read, write, resolve)
registry.py   switching CURRENT with a record in HISTORY: promote, roll back, describe
"""
