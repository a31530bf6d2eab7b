"""Packaging for `official.align`, installed beside tf-models-official.

tf-models-official owns the top-level `official` package (its
`official/__init__.py` included). The wheel therefore ships only
`official/align/...`: installing it adds a subpackage and overwrites nothing.
"""
import os

import setuptools

_HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements():
  """(install_requires, extras_require) from requirements.txt.

  A line ending in `# extra: NAME` belongs to the optional extra NAME
  (`beam`, `search`, `hf`: see official/align/extras.py); `make` installs
  every line.
  """
  required, extras = [], {}
  with open(os.path.join(_HERE, "requirements.txt")) as f:
    for line in f:
      requirement, _, comment = line.partition("#")
      requirement = requirement.strip()
      if not requirement:
        continue
      extra = comment.strip()
      if extra.startswith("extra:"):
        extras.setdefault(extra[len("extra:"):].strip(), []).append(
            requirement)
      else:
        required.append(requirement)
  return required, extras


_INSTALL_REQUIRES, _EXTRAS_REQUIRE = _requirements()


setuptools.setup(
    name="align-tf",
    version="0.1.0",
    description=("ALIGN (Jia et al., ICML 2021) image-text dual encoder for "
                 "TensorFlow, in the style of the TensorFlow Model Garden."),
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_namespace_packages(
        include=["official.align", "official.align.*"]),
    # The search page's files (official/align/search/static) ship too.
    package_data={"official.align": ["**/*.txt", "**/*.json", "**/*.gin",
                                     "**/*.html", "**/*.js", "**/*.css"]},
    install_requires=_INSTALL_REQUIRES,
    extras_require=_EXTRAS_REQUIRE,
)
