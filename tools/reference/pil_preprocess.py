#!/usr/bin/python3
"""PIL's output of OpenAI CLIP's `preprocess`, as the reference for ClipSpark's bicubic evaluation transform.

OpenAI's `clip.load(...)` returns `preprocess = Compose([Resize(S, BICUBIC), CenterCrop(S), _convert_image_to_rgb,
ToTensor(), Normalize(mean, std)])` applied to a PIL image. torchvision's Resize on a PIL image resizes the shorter
side to S and the longer to int(S * long / short) with PIL's `Image.resize(..., BICUBIC)`; CenterCrop then takes
the S x S window at int(round((side - S) / 2.0)). ToTensor divides the 8-bit result by 255 and Normalize is plain
arithmetic, so the 8-bit image after the crop is the whole of what has to match; this script writes exactly that
image (as PNG), computed with PIL and Python only (torchvision's two size rules are written out below), so it needs
nothing beyond Debian's python3-pil.

Two uses:

  make-fixture SKIMAGE_DATA OUT  -- the committed test fixture: small inputs cut from three photographs that
      Debian's python3-skimage package ships (astronaut.png, coffee.png, chelsea.png; get them without installing
      the package: `apt-get download python3-skimage && dpkg -x python3-skimage_*.deb x`, then SKIMAGE_DATA is
      x/usr/lib/python3/dist-packages/skimage/data), PIL's preprocess output at several sizes, and cases.tsv.
  measure OUT SIZE IMAGE...      -- the same layout for whole images (inputs copied as PNG), to measure the
      difference on full-size photographs: run ImagePreprocessorBicubicTest with CLIPSPARK_BICUBIC_CASES=OUT.

cases.tsv: one line per case, `input<TAB>size<TAB>expected`, file names relative to OUT.
"""
import os
import sys

from PIL import Image


def torchvision_resize_size(width, height, size):
    """torchvision.transforms.functional._compute_resized_output_size for an int size: (new_w, new_h)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def clip_preprocess_8bit(image, size):
    """Resize(size, BICUBIC) + CenterCrop(size) + convert('RGB'), before ToTensor and Normalize."""
    image = image.resize(torchvision_resize_size(image.width, image.height, size), Image.BICUBIC)
    top = int(round((image.height - size) / 2.0))
    left = int(round((image.width - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    return image.convert("RGB")


def write_cases(out, cases):
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        for input_name, size in cases:
            image = Image.open(os.path.join(out, input_name))
            image.load()
            expected = "%s-%d.png" % (os.path.splitext(input_name)[0], size)
            clip_preprocess_8bit(image, size).save(os.path.join(out, expected), optimize=True)
            f.write("%s\t%d\t%s\n" % (input_name, size, expected))


def make_fixture(data, out):
    os.makedirs(out, exist_ok=True)
    # Inputs: windows of real photographs at their own resolution (no resampling), of odd and even sides,
    # landscape and portrait, so the cases cover downscaling, upscaling and fractional crop offsets.
    inputs = [
        ("coffee.png", (150, 120, 150 + 203, 120 + 137), "coffee-203x137.png"),
        ("chelsea.png", (150, 40, 150 + 118, 40 + 171), "chelsea-118x171.png"),
        ("astronaut.png", (160, 40, 160 + 97, 40 + 88), "astronaut-97x88.png"),
    ]
    for source, box, name in inputs:
        Image.open(os.path.join(data, source)).convert("RGB").crop(box).save(os.path.join(out, name), optimize=True)
    write_cases(out, [
        ("coffee-203x137.png", 64), ("coffee-203x137.png", 101), ("coffee-203x137.png", 160),
        ("chelsea-118x171.png", 48), ("chelsea-118x171.png", 144),
        ("astronaut-97x88.png", 32), ("astronaut-97x88.png", 120),
    ])


def measure(out, size, images):
    os.makedirs(out, exist_ok=True)
    cases = []
    for path in images:
        name = os.path.splitext(os.path.basename(path))[0] + ".png"
        Image.open(path).convert("RGB").save(os.path.join(out, name))
        cases.append((name, size))
    write_cases(out, cases)


def main(argv):
    if len(argv) == 3 and argv[0] == "make-fixture":
        make_fixture(argv[1], argv[2])
    elif len(argv) >= 4 and argv[0] == "measure":
        measure(argv[1], int(argv[2]), argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
