"""The modeling tests build models from their constructors' defaults: start
each from an empty gin config, whatever ran before in this process."""
import gin
import pytest


@pytest.fixture(autouse=True)
def _empty_gin_config():
  with gin.unlock_config():
    gin.clear_config()
  yield
