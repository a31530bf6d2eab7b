# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Drawing the demo world's images: coloured shapes on plain or textured
backgrounds (PIL), as JPEG bytes (`render`)."""
import io

import numpy as np
from PIL import Image
from PIL import ImageDraw

COLOUR_RGB = {
    "red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 220),
    "yellow": (240, 220, 30), "purple": (140, 40, 180),
    "orange": (250, 140, 20), "white": (250, 250, 250), "black": (10, 10, 10),
}
# Muted backgrounds, far from every object colour.
_BACKGROUNDS = ((128, 128, 128), (110, 120, 130), (150, 140, 120),
                (95, 105, 95), (160, 150, 160))
_POSITION_XY = {"left": (0.27, 0.5), "right": (0.73, 0.5),
                "top": (0.5, 0.27), "bottom": (0.5, 0.73),
                "center": (0.5, 0.5)}
_SIZE_RADIUS = {"small": 0.13, "large": 0.23}  # Fraction of the short side.


def _shape_polygon(shape, cx, cy, r):
  """Polygon points of a shape of 'radius' r centred on (cx, cy)."""
  if shape == "triangle":
    angles = np.deg2rad([-90, 30, 150])
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
  if shape == "diamond":
    return [(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r),
            (cx - 0.75 * r, cy)]
  if shape == "star":
    pts = []
    for k in range(10):
      a = np.deg2rad(-90 + 36 * k)
      rad = r if k % 2 == 0 else 0.45 * r
      pts.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
    return pts
  raise ValueError(shape)


def _draw_object(draw, shape, colour, cx, cy, r):
  fill = COLOUR_RGB[colour]
  if shape == "circle":
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
  elif shape == "square":
    h = 0.85 * r
    draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
  elif shape == "cross":
    t = 0.3 * r
    draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
    draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
  else:
    draw.polygon(_shape_polygon(shape, cx, cy, r), fill=fill)


def _background(rng, width, height):
  """(PIL image, kind) with kind in plain/striped/noisy."""
  base = np.array(_BACKGROUNDS[rng.integers(len(_BACKGROUNDS))], np.int16)
  kind = ("plain", "striped", "noisy")[rng.integers(3)]
  if kind == "plain":
    return Image.new("RGB", (width, height), tuple(int(v) for v in base)), kind
  if kind == "striped":
    period = int(rng.integers(4, 10))
    y, x = np.mgrid[:height, :width]
    stripes = ((x + y) // period) % 2 if rng.random() < 0.5 else (
        (x // period) % 2)
    arr = base[None, None, :] + (stripes[..., None] * 24 - 12)
  else:
    arr = base[None, None, :] + rng.integers(-20, 21, [height, width, 1])
  return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), kind


def render(rng, objects, size_range):
  """JPEG bytes, width, height and background kind of one image.

  Args:
    rng: a `np.random.Generator`.
    objects: (colour, shape, size, position) of each object.
    size_range: (min, max) of the image's width and height, pixels.
  """
  width = int(rng.integers(size_range[0], size_range[1] + 1))
  height = int(rng.integers(size_range[0], size_range[1] + 1))
  image, kind = _background(rng, width, height)
  draw = ImageDraw.Draw(image)
  short = min(width, height)
  for colour, shape, size, position in objects:
    fx, fy = _POSITION_XY[position]
    jx, jy = rng.uniform(-0.04, 0.04, 2)
    r = _SIZE_RADIUS[size] * short * rng.uniform(0.9, 1.1)
    _draw_object(draw, shape, colour, (fx + jx) * width, (fy + jy) * height, r)
  buf = io.BytesIO()
  image.save(buf, format="JPEG", quality=90)
  return buf.getvalue(), width, height, kind
