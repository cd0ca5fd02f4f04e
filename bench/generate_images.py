#!/usr/bin/env python3
"""Writes a folder of labelled PNG images of any size for `image-classifier --format folder`
(`DIR/train/<class>/*.png` and `DIR/test/<class>/*.png`), to measure training time and
memory on image sets far larger than the bundled MNIST (generated data is never committed).

    python bench/generate_images.py --images 200000 --out /var/tmp/images-200k
    image-classifier train --format folder --data /var/tmp/images-200k --model cnn --epochs 1

Each class is a coloured shape (a disc, a square, a cross, a ring, stripes...) at a random
place, size and hue, on a noisy background, so the classes are learnable but not trivial. The
PNGs are 8-bit RGB, written with the standard library's zlib; a tenth of the images go to
test/. The same --seed gives the same files. Needs numpy.
"""

import argparse
import os
import struct
import sys
import zlib

import numpy as np

SHAPES = ["disc", "square", "cross", "ring", "horizontal", "vertical", "diagonal", "triangle",
          "dots", "frame"]


def png(pixels):
    """The bytes of an 8-bit RGB PNG of `pixels` (height × width × 3, uint8)."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def mask(shape, size, rng):
    """Where the shape is, as a boolean `size × size` array."""
    y, x = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(size * 0.3, size * 0.7, size=2)
    r = rng.uniform(size * 0.15, size * 0.3)
    dy, dx = y - cy, x - cx
    distance = np.hypot(dy, dx)
    return {
        "disc": distance < r,
        "square": (abs(dy) < r) & (abs(dx) < r),
        "cross": ((abs(dy) < r / 3) & (abs(dx) < r)) | ((abs(dx) < r / 3) & (abs(dy) < r)),
        "ring": (distance < r) & (distance > r * 0.6),
        "horizontal": (y // 4) % 2 == 0,
        "vertical": (x // 4) % 2 == 0,
        "diagonal": ((x + y) // 5) % 2 == 0,
        "triangle": (dy > -r) & (abs(dx) < (dy + r) / 2),
        "dots": ((y % 8) < 3) & ((x % 8) < 3),
        "frame": ((abs(dy) < r) & (abs(dx) < r)) & ~((abs(dy) < r * 0.7) & (abs(dx) < r * 0.7)),
    }[shape]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, required=True, help="train and test together")
    parser.add_argument("--classes", type=int, default=10, choices=range(2, len(SHAPES) + 1))
    parser.add_argument("--size", type=int, default=64, help="width and height in pixels")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, help="the folder to write")
    args = parser.parse_args()
    if args.images < 2 * args.classes or args.size < 8:
        sys.exit("--images must give each class two images, --size must be at least 8")

    rng = np.random.default_rng(args.seed)
    for part in ("train", "test"):
        for shape in SHAPES[: args.classes]:
            os.makedirs(os.path.join(args.out, part, shape), exist_ok=True)
    for i in range(args.images):
        shape = SHAPES[i % args.classes]
        part = "test" if (i // args.classes) % 10 == 9 else "train"
        background = rng.normal(96, 40, size=(args.size, args.size, 3))
        colour = rng.uniform(120, 255, size=3)
        pixels = np.where(mask(shape, args.size, rng)[..., None], colour, background)
        pixels = np.clip(pixels + rng.normal(0, 20, size=pixels.shape), 0, 255).astype(np.uint8)
        with open(os.path.join(args.out, part, shape, f"{i:07d}.png"), "wb") as f:
            f.write(png(pixels))
    print(f"wrote {args.images} images of {args.classes} classes to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
