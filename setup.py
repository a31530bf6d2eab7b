"""Packaging for `official.align`, installed beside tf-models-official.

tf-models-official owns the top-level `official` package (its
`official/__init__.py` included). The wheel therefore ships only
`official/align/...`: installing it adds a subpackage and overwrites nothing.
"""
import os

import setuptools

_HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements():
  with open(os.path.join(_HERE, "requirements.txt")) as f:
    return [line.split("#")[0].strip() for line in f
            if line.split("#")[0].strip()]


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
    install_requires=_requirements(),
)
