"""Model integrity: hashes and signatures with the OpenSSF ``model-signing`` package."""
