"""Shared pytest set-up: quiet TensorFlow, a CPU split into logical devices."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
