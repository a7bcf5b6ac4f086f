"""Image folders: real files written with Pillow in several formats, modes and sizes, decoded and
checked against hand-made expectations; the layout, the split, the cache and every bad input."""

import os
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import datasets.folder as folder
from datasets import DatasetError, dataset_name, is_path, load_dataset
from datasets import cache, decode
from datasets.folder import default_image_size, hold_out, read_folder

EXIF_ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets a cache folder of its own, never the user's."""
    monkeypatch.setenv(cache.VARIABLE, str(tmp_path / "cache"))


def save(path, image, **options):
    """Write a PIL image (or a uint8 array) to `path`, making its folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **options)
    return path


def pattern(height, width, seed, channels=None):
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def classes_of(root, counts, size=(24, 24), start=0):
    """Greyscale PNGs: counts[c] images in root/c<c>/, each of its own random pattern."""
    for c, count in enumerate(counts):
        for i in range(count):
            save(os.path.join(root, f"c{c}", f"{i:03d}.png"), pattern(size[1], size[0], start + 100 * c + i))
    return str(root)


def load(root, **options):
    options.setdefault("progress", False)
    return load_dataset(str(root), data_dir="unused", **options)


def everything(dataset):
    """{relative path: image (C, S, S)} of both splits."""
    return {path: image for split in (dataset.train, dataset.test)
            for path, image in zip(split.paths, split.images)}


def assert_each_image_is_its_file(data, root):
    """Every image of both splits is what its own file decodes to: no image landed under another's
    path or label, whatever was skipped or moved."""
    size = data.train.shape[-1]
    for split in (data.train, data.test):
        for path, image, label in zip(split.paths, split.images, split.labels.tolist()):
            pixels = torch.from_numpy(decode.decode(os.path.join(root, *path.split("/")), size))
            expected = pixels.permute(2, 0, 1) if pixels.dim() == 3 else pixels.expand(len(image), -1, -1)
            assert torch.equal(image, expected), path
            assert data.class_names[label] == path.split("/")[-2], path


# --- decoding: each format and mode against pixels worked out by hand --------------------------

def test_lossless_formats_decode_to_their_exact_pixels(tmp_path):
    grey, colour = pattern(20, 20, 1), pattern(20, 20, 2, channels=3)
    checks = {
        save(tmp_path / "a.png", grey): grey,
        save(tmp_path / "b.bmp", grey): grey,
        save(tmp_path / "c.png", colour): colour,
        save(tmp_path / "d.bmp", colour): colour,
        save(tmp_path / "e.webp", colour, lossless=True): colour,
        save(tmp_path / "f.tiff", colour): colour,
    }
    for path, expected in checks.items():
        assert np.array_equal(decode.decode(str(path), 20), expected), path


def test_jpeg_decodes_close_to_its_pixels(tmp_path):
    flat = np.zeros((24, 24, 3), dtype=np.uint8)
    flat[:, :12] = (200, 40, 40)  # two flat halves: JPEG keeps them within a few levels
    flat[:, 12:] = (30, 60, 220)
    pixels = decode.decode(save(tmp_path / "a.jpg", flat, quality=95), 24).astype(int)
    assert np.abs(pixels[:, :10] - (200, 40, 40)).max() <= 4
    assert np.abs(pixels[:, 14:] - (30, 60, 220)).max() <= 4
    cmyk = Image.new("CMYK", (24, 24), (0, 255, 255, 0))  # pure red in ink
    red = decode.decode(save(tmp_path / "b.jpg", cmyk, quality=95), 24).astype(int)
    assert red.shape == (24, 24, 3) and np.abs(red - (255, 0, 0)).max() <= 4


def test_palette_gif_and_one_bit_images_decode_through_their_palette(tmp_path):
    indices = np.arange(400, dtype=np.uint8).reshape(20, 20) % 3
    palette = Image.new("P", (20, 20))
    palette.putpalette([250, 0, 0, 0, 250, 0, 0, 0, 250] + [0] * 759)
    palette.putdata(indices.flatten().tolist())
    expected = np.array([(250, 0, 0), (0, 250, 0), (0, 0, 250)], dtype=np.uint8)[indices]
    assert np.array_equal(decode.decode(save(tmp_path / "a.gif", palette), 20), expected)
    assert np.array_equal(decode.decode(save(tmp_path / "a.png", palette), 20), expected)
    bits = Image.fromarray(indices == 1)  # mode 1
    assert bits.mode == "1"
    assert np.array_equal(decode.decode(save(tmp_path / "b.png", bits), 20), (indices == 1) * 255)


def test_a_gif_is_read_at_its_first_frame(tmp_path):
    frames = [Image.new("L", (20, 20), value) for value in (30, 200, 90)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "a.gif").n_frames == 3
    assert (decode.decode(str(tmp_path / "a.gif"), 20) == 30).all()


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    values = np.array([0, 128, 129, 257, 32768, 257 * 100, 65279, 65535] * 50, dtype=np.uint16).reshape(20, 20)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    pixels = decode.decode(save(tmp_path / "a.png", image), 20)
    # round(v / 257): 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1, 32768/257 = 127.5 -> 128
    expected = np.array([0, 0, 1, 1, 128, 100, 254, 255] * 50, dtype=np.uint8).reshape(20, 20)
    assert pixels.dtype == np.uint8 and np.array_equal(pixels, expected)
    wide = Image.fromarray(values.astype(np.int32))
    assert wide.mode == "I"
    assert np.array_equal(decode.decode(save(tmp_path / "b.tiff", wide), 20), expected)


def test_transparent_pixels_lie_on_white(tmp_path):
    # alpha 0 shows white whatever the hidden colour; 255 the colour; 51 (a fifth) and 153 (three
    # fifths) mix: 100 * 3/5 + 255 * 2/5 = 162 and 0 * 1/5 + 255 * 4/5 = 204.
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:5] = (255, 0, 0, 0)
    rgba[5:10] = (10, 20, 30, 255)
    rgba[10:15] = (100, 100, 100, 153)
    rgba[15:] = (0, 0, 0, 51)
    expected = np.zeros((20, 20, 3), dtype=np.uint8)
    expected[:5], expected[5:10], expected[10:15], expected[15:] = 255, (10, 20, 30), 162, 204
    assert np.array_equal(decode.decode(save(tmp_path / "a.png", rgba), 20), expected)
    assert np.array_equal(decode.decode(save(tmp_path / "a.webp", rgba, lossless=True), 20), expected)
    la = Image.fromarray(np.ascontiguousarray(rgba[..., [0, 3]]))
    assert la.mode == "LA"
    la_expected = np.array([255] * 5 + [10] * 5 + [162] * 5 + [204] * 5, dtype=np.uint8)[:, None].repeat(20, 1)
    assert np.array_equal(decode.decode(save(tmp_path / "b.png", la), 20), la_expected)
    palette = Image.new("P", (20, 20))  # entry 0 transparent (its colour red never shows), entry 1 green
    palette.putpalette([255, 0, 0, 0, 200, 0] + [0] * 762)
    palette.putdata([1] * 200 + [0] * 200)
    pixels = decode.decode(save(tmp_path / "c.png", palette, transparency=0), 20)
    assert (pixels[:10] == (0, 200, 0)).all() and (pixels[10:] == 255).all()
    pixels = decode.decode(save(tmp_path / "c.gif", palette, transparency=0), 20)
    assert (pixels[:10] == (0, 200, 0)).all() and (pixels[10:] == 255).all()
    with_alpha = palette.convert("PA")  # a palette and an alpha band (TIFF holds it; PNG cannot)
    with_alpha.putalpha(Image.fromarray(np.repeat(np.array([255, 0], dtype=np.uint8), 200).reshape(20, 20)))
    assert with_alpha.mode == "PA"
    pixels = decode.decode(save(tmp_path / "d.tiff", with_alpha), 20)
    assert (pixels[:10] == (0, 200, 0)).all() and (pixels[10:] == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    # Stored 30 wide, 20 high, its left third white; orientation 6 means "turn 90 degrees clockwise
    # to show it": shown 20 wide, 30 high, its top third white. At 20 pixels the centre square is
    # rows 5..24 of the shown image: rows 0..4 of it white, the rest black.
    stored = np.zeros((20, 30, 3), dtype=np.uint8)
    stored[:, :10] = 255
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = save(tmp_path / "a.jpg", stored, quality=95, exif=exif)
    pixels = decode.decode(str(path), 20).astype(int)
    assert pixels.shape == (20, 20)  # grey once turned: one channel
    assert (pixels[:4] >= 250).all() and (pixels[6:] <= 5).all()
    plain = decode.decode(save(tmp_path / "b.jpg", stored, quality=95), 20).astype(int)
    assert (plain[:, :4] >= 250).all() and (plain[:, 6:] <= 5).all()  # unturned: columns 5..24, 5..9 white


def test_a_photo_with_broken_exif_data_loads_quietly(tmp_path):
    broken = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01\x03\x00"  # 65535 entries announced, none there
    root = classes_of(tmp_path / "r", [3, 3])
    save(os.path.join(root, "c0", "photo.jpg"), np.full((24, 24, 3), 120, dtype=np.uint8), exif=broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(root, test_fraction=0.3)
    assert "c0/photo.jpg" in everything(data) and data.warnings == []
    assert [str(warning.message) for warning in caught] == []  # Pillow's "Corrupt EXIF data" is not printed


def test_shorter_side_is_resized_and_the_centre_cropped(tmp_path):
    tall = pattern(30, 20, 3)
    assert np.array_equal(decode.decode(save(tmp_path / "a.png", tall), 20), tall[5:25])
    wide = pattern(20, 31, 4)
    assert np.array_equal(decode.decode(save(tmp_path / "b.png", wide), 20), wide[:, 5:25])
    halves = np.zeros((40, 60), dtype=np.uint8)
    halves[:, 30:] = 200  # the centre 40x40 square is columns 10..49: its left half black, its right 200
    pixels = decode.decode(save(tmp_path / "c.png", halves), 20).astype(int)
    assert pixels.shape == (20, 20) and (pixels[:, :9] == 0).all() and (pixels[:, 11:] == 200).all()
    assert (decode.decode(save(tmp_path / "d.png", np.full((37, 23), 77, dtype=np.uint8)), 32) == 77).all()


# --- a whole folder ----------------------------------------------------------------------------

def mixed_folder(root):
    """Four classes of images in every format and mode, 20 to 40 pixels, square or not."""
    grey, colour = pattern(30, 30, 5), pattern(30, 30, 6, channels=3)
    save(root / "apple" / "1.png", grey)
    save(root / "apple" / "2.jpg", colour, quality=90)
    save(root / "apple" / "3.bmp", pattern(20, 25, 7, channels=3))
    save(root / "bear" / "1.gif", Image.fromarray(colour).convert("P"))
    save(root / "bear" / "2.webp", pattern(40, 32, 8, channels=3))
    save(root / "bear" / "3.png", Image.fromarray(np.zeros((30, 30, 4), dtype=np.uint8)))  # all transparent
    save(root / "cat" / "1.png", Image.fromarray((pattern(36, 36, 9).astype(np.uint16) * 257)))  # I;16
    save(root / "cat" / "2.png", Image.fromarray(colour).convert("P"))
    save(root / "cat" / "3.png", Image.fromarray(grey).convert("1"))
    save(root / "dog" / "1.png", Image.fromarray(pattern(22, 38, 10, channels=4)))  # RGBA
    save(root / "dog" / "2.png", grey)
    return root


def test_a_folder_of_every_format_and_mode_loads_as_one_colour_array(tmp_path):
    root = mixed_folder(tmp_path / "zoo")
    data = load(root, image_size=24)
    assert data.name == "zoo" and data.class_names == ["apple", "bear", "cat", "dog"]
    assert data.train.shape == data.test.shape == (3, 24, 24)
    assert len(data.train) + len(data.test) == 11 and data.warnings == []
    images = everything(data)
    assert (images["bear/3.png"] == 255).all()  # transparent everywhere: white
    grey = images["apple/1.png"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])  # grey repeated in R, G, B
    sixteen = images["cat/1.png"][0]
    expected = decode.decode(str(root / "cat" / "1.png"), 24)
    assert torch.equal(sixteen, torch.from_numpy(expected))
    assert_each_image_is_its_file(data, root)


def test_greyscale_images_of_any_mode_give_one_channel(tmp_path):
    grey = pattern(24, 24, 11)
    save(tmp_path / "g" / "a" / "1.png", grey)
    save(tmp_path / "g" / "a" / "2.jpg", np.stack([grey] * 3, axis=2), quality=90)  # RGB file, grey pixels
    save(tmp_path / "g" / "a" / "3.png", pattern(24, 24, 13))
    save(tmp_path / "g" / "b" / "1.gif", Image.fromarray(grey))
    save(tmp_path / "g" / "b" / "2.png", Image.fromarray(grey.astype(np.uint16) * 257))
    save(tmp_path / "g" / "b" / "3.bmp", Image.fromarray(grey > 128))
    data = load(tmp_path / "g", test_fraction=0.3)
    assert data.train.shape == (1, 24, 24)
    assert torch.equal(everything(data)["a/1.png"][0], torch.from_numpy(grey))
    save(tmp_path / "g" / "b" / "4.png", pattern(24, 24, 12, channels=3))  # one colour image: three channels
    assert load(tmp_path / "g", test_fraction=0.3).train.shape == (3, 24, 24)


def test_default_image_size():
    assert default_image_size([(28, 28)] * 5) == 28
    assert default_image_size([(16, 16)]) == 16 and default_image_size([(64, 64)]) == 64
    assert default_image_size([(10, 10)] * 3) == 16      # one square size below 16: the nearer is 16
    assert default_image_size([(100, 100)] * 3) == 64    # above 64: 64
    assert default_image_size([(28, 40)] * 3) == 16      # one size, but not square: median shorter side 28
    assert default_image_size([(20, 30), (40, 35), (30, 30)]) == 16  # shorter sides 20, 35, 30: median 30
    assert default_image_size([(40, 41), (50, 60), (20, 20)]) == 64  # median 40: as near 16 as 64, 64
    assert default_image_size([(39, 39), (40, 40)]) == 16            # median 39.5
    assert default_image_size([(500, 375), (20, 20), (640, 480)]) == 64


def test_the_default_size_is_the_images_own_when_they_share_one(tmp_path):
    assert load(classes_of(tmp_path / "a", [3, 3], size=(24, 24))).train.shape == (1, 24, 24)
    assert load(classes_of(tmp_path / "b", [3, 3], size=(30, 20))).train.shape == (1, 16, 16)


# --- layout, names, hidden files -----------------------------------------------------------------

def test_hidden_and_system_files_are_ignored(tmp_path):
    root = classes_of(tmp_path / "pets", [3, 3])
    for junk in ("pets/.DS_Store", "pets/c0/.DS_Store", "pets/c1/._000.png", "pets/c1/Thumbs.db",
                 "pets/__MACOSX/c0/._000.png", "pets/c0/.thumbnails/x.png"):
        os.makedirs(tmp_path / os.path.dirname(junk), exist_ok=True)
        (tmp_path / junk).write_bytes(b"\x00junk")
    save(tmp_path / "pets" / ".hidden-class" / "1.png", pattern(24, 24, 1))
    data = load(root)
    assert data.class_names == ["c0", "c1"] and data.warnings == []
    assert sorted(everything(data)) == [f"c{c}/{i:03d}.png" for c in range(2) for i in range(3)]


def test_images_in_subfolders_of_a_class_belong_to_it(tmp_path):
    root = classes_of(tmp_path / "r", [3, 3])
    save(tmp_path / "r" / "c0" / "more" / "deeper" / "x.png", pattern(24, 24, 50))
    data = load(root, test_fraction=0.3)
    assert "c0/more/deeper/x.png" in everything(data)


def test_names_in_any_script_and_with_spaces(tmp_path):
    root = tmp_path / "données"
    save(root / "猫 cats" / "ñandú 1.png", pattern(24, 24, 1))
    save(root / "猫 cats" / "Ελληνικά.png", pattern(24, 24, 2))
    save(root / "собаки" / "عربى.png", pattern(24, 24, 3))
    save(root / "собаки" / "2 two.png", pattern(24, 24, 4))
    save(root / "猫 cats" / "日本.png", pattern(24, 24, 5))
    save(root / "собаки" / "три.png", pattern(24, 24, 6))
    (root / "собаки" / "नोट.txt").write_text("not an image")
    data = load(root, test_fraction=0.3)
    assert data.name == "données" and data.class_names == ["собаки", "猫 cats"]
    assert set(everything(data)) == {"猫 cats/ñandú 1.png", "猫 cats/Ελληνικά.png", "猫 cats/日本.png",
                                     "собаки/عربى.png", "собаки/2 two.png", "собаки/три.png"}
    (warning,) = data.warnings
    assert "собаки/नोट.txt (not an image)" in warning


def test_file_names_that_are_not_utf8_load_and_are_shown_escaped(tmp_path):
    root = classes_of(tmp_path / "r", [3, 3])
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1, not UTF-8: Python keeps the byte as a lone surrogate
    try:
        save(os.path.join(root, "c0", name), pattern(24, 24, 60))
        with open(os.path.join(root, "c1", os.fsdecode(b"\xff\xfe.txt")), "w") as f:
            f.write("not an image")
        save(os.path.join(root, os.fsdecode(b"gr\xfcn"), "a.png"), pattern(24, 24, 61))  # a class in Latin-1
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    data = load(root, test_fraction=0.3)
    assert f"c0/{name}" in everything(data)
    assert data.class_names == data.train.class_names == ["c0", "c1", "gr\\xfcn"]
    (warning,) = data.warnings
    assert "c1/\\xff\\xfe.txt (not an image)" in warning
    warning.encode("utf-8")  # printable


def test_non_images_and_corrupt_images_are_skipped_named_and_counted_in_one_line(tmp_path):
    root = classes_of(tmp_path / "r", [4, 4])
    (tmp_path / "r" / "c0" / "notes.txt").write_text("hello")
    (tmp_path / "r" / "c0" / "empty.png").write_bytes(b"")
    png = (tmp_path / "r" / "c1" / "000.png").read_bytes()
    (tmp_path / "r" / "c1" / "0-truncated.png").write_bytes(png[:len(png) // 2])
    (tmp_path / "r" / "c1" / "z-fake.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = load(root)
    assert len(data.train) + len(data.test) == 8
    (warning,) = data.warnings
    assert "\n" not in warning
    assert "skipped 4 of 12 files, not readable images" in warning
    assert "c0/empty.png (not an image)" in warning and "c0/notes.txt (not an image)" in warning
    assert "c1/0-truncated.png (image file is truncated)" in warning and "and 1 more" in warning
    assert_each_image_is_its_file(data, root)


def test_an_unreadable_file_is_skipped_and_named(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [4, 4])
    locked = os.path.join(root, "c1", "001.png")
    if os.geteuid() == 0:  # root reads any file: stand in for the permission error
        real_open = open

        def guarded(path, *args, **kwargs):
            if os.fspath(path) == locked:
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, *args, **kwargs)
        monkeypatch.setattr("builtins.open", guarded)
    else:
        os.chmod(locked, 0)
    data = load(root, use_cache=False)
    assert data.warnings == [f"{root}: skipped 1 of 8 files, not readable images: c1/001.png (permission denied)"]


def test_an_unreadable_class_folder_is_one_line(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [3, 3])
    real_scandir = os.scandir

    def guarded(path="."):
        if os.fspath(path).endswith("c1"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", guarded)
    with pytest.raises(DatasetError, match=r"^cannot read the folder .*r/c1: permission denied$"):
        load(root)


def only_class_folder(root):
    classes_of(root, [3])


def empty_class(root):
    classes_of(root, [3, 3])
    (root / "c2").mkdir()


def class_of_hidden_files(root):
    classes_of(root, [3, 3])
    os.makedirs(root / "c2" / ".git")
    (root / "c2" / ".DS_Store").write_bytes(b"junk")


def class_without_an_image(root):
    classes_of(root, [3, 3])
    os.makedirs(root / "c2")
    (root / "c2" / "x.txt").write_text("no")


def loose_images(root):
    save(root / "a.png", pattern(20, 20, 1))
    save(root / "b.png", pattern(20, 20, 2))


def no_image_at_all(root):
    for c in "ab":
        os.makedirs(root / c)
        (root / c / "a.txt").write_text("no")


@pytest.mark.parametrize("make, message", [
    (lambda root: None, r"bad does not exist: expected MNIST, FashionMNIST or a folder of class folders, "
                        r"<folder>/<class>/<image> \(PNG, JPEG, BMP, GIF, WebP\)$"),
    (lambda root: root.write_text("x"), r"bad is a file, not a folder: expected MNIST"),
    (lambda root: root.mkdir(), r"bad is empty: expected a folder of class folders, <folder>/<class>/<image>"),
    (loose_images, r"bad holds 2 files but no class folder: expected a folder of class folders"),
    (only_class_folder, r"bad holds a single class folder \(c0\): expected two classes or more"),
    (empty_class, r"the class folder .*bad/c2 is empty: every class folder needs at least one image"),
    (class_of_hidden_files, r"the class folder .*bad/c2 is empty"),
    (class_without_an_image, r"the class folder .*bad/c2 holds no readable image \(c2/x.txt \(not an image\)\): "
                             r"every class needs at least one"),
    (no_image_at_all, r"bad holds 2 files but no readable image: expected PNG, JPEG, BMP, GIF or WebP images "
                      r"in class folders \(a/a.txt \(not an image\), b/a.txt \(not an image\)\)$"),
])
def test_bad_folders_are_one_line_errors(tmp_path, make, message):
    root = tmp_path / "bad"
    make(root)
    with pytest.raises(DatasetError, match=message) as error:
        load(root)
    assert "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / "cache") or os.listdir(tmp_path / "cache") == []  # nothing cached


def test_bad_numbers_are_one_line_errors(tmp_path):
    root = classes_of(tmp_path / "r", [3, 3])
    for fraction in (0, 1, 1.5, -0.1):
        with pytest.raises(DatasetError, match="the test fraction must lie between 0 and 1"):
            load(root, test_fraction=fraction)
    for size in (0, -3, 2.5):
        with pytest.raises(DatasetError, match="the image size must be a whole number of pixels of 1 or more"):
            load(root, image_size=size)


# --- the split -----------------------------------------------------------------------------------

def test_the_split_holds_out_a_rounded_fraction_of_each_class_and_keeps_a_training_image():
    counts = [10, 7, 3, 2, 1, 5]
    labels = torch.arange(6).repeat_interleave(torch.tensor(counts))
    names = [f"c{c}" for c in range(6)]
    mask = hold_out(labels, names, 0.2, seed=0)
    # round(n / 5), halves up: 2, 1 (1.4), 1 (0.6), 0 (0.4), 0, 1 (1.0)
    assert torch.bincount(labels[mask], minlength=6).tolist() == [2, 1, 1, 0, 0, 1]
    half = hold_out(labels, names, 0.5, seed=0)  # 5, 4 (3.5 up), 2 (1.5 up), 1, 0 (one image stays), 3 (2.5 up)
    assert torch.bincount(labels[half], minlength=6).tolist() == [5, 4, 2, 1, 0, 3]
    most = hold_out(labels, names, 0.75, seed=0)  # 8 (7.5 up), 5, 2, 1 (1.5 up, but one stays), 0, 4
    assert torch.bincount(labels[most], minlength=6).tolist() == [8, 5, 2, 1, 0, 4]
    assert torch.equal(mask, hold_out(labels, names, 0.2, seed=0))
    assert any(not torch.equal(hold_out(labels, names, 0.5, seed=s), half) for s in range(1, 4))


def test_the_split_of_one_class_does_not_depend_on_the_others():
    labels = torch.tensor([0] * 20 + [1] * 20)
    more = torch.tensor([0] * 25 + [1] * 20)  # class 0 grew; class 1 must keep its test images
    first, second = hold_out(labels, ["a", "b"], 0.3, 4), hold_out(more, ["a", "b"], 0.3, 4)
    assert torch.equal(first[20:], second[25:])


def test_a_split_that_holds_out_fewer_than_two_classes_is_refused():
    with pytest.raises(DatasetError, match=r"^--test-fraction 0.2 leaves too few images in the test split: it "
                                           r"holds out no image, and a test split needs two classes or more; "):
        hold_out(torch.tensor([0, 0, 1, 1, 2]), ["a", "b", "c"], 0.2, 0)
    with pytest.raises(DatasetError, match=r"holds out images of one class only \(big\), and a test split"):
        hold_out(torch.tensor([0] * 10 + [1, 1, 2, 2]), ["big", "b", "c"], 0.2, 0)


def test_a_split_that_leaves_fewer_than_two_classes_of_two_training_images_is_refused():
    labels = torch.arange(3).repeat_interleave(14)  # 14 images a class: 13 held out of each at 0.99
    with pytest.raises(DatasetError) as error:
        hold_out(labels, ["a", "b", "c"], 0.99, 0)
    # held out from 0.5 / 14 = 0.036 on; two kept while 14 f + 0.5 < 13, below 12.5 / 14 = 0.893
    assert str(error.value) == ("--test-fraction 0.99 leaves too few images in the training split: no class "
                                "keeps two images or more for training, and training needs two such classes; "
                                "a --test-fraction from 0.04 to 0.89 works for this folder")
    with pytest.raises(DatasetError, match=r"^--test-fraction 0.01 leaves too few images in the test split: "
                                           r"it holds out no image, .*; a --test-fraction from 0.04 to 0.89 works"):
        hold_out(labels, ["a", "b", "c"], 0.01, 0)
    for fraction in (0.04, 0.89):
        mask = hold_out(labels, ["a", "b", "c"], fraction, 0)
        assert torch.bincount(labels[mask]).min() >= 1 and torch.bincount(labels[~mask]).min() >= 2
    uneven = torch.tensor([0] * 20 + [1, 2])  # only the class of 20 can give either split images
    with pytest.raises(DatasetError, match=r"^--test-fraction 0.5 leaves too few images in the test and the "
                                           r"training split: .*; one class only \(a\) keeps two images or more "
                                           r"for training, .*; no --test-fraction can split this folder: that "
                                           r"needs two classes of three images or more"):
        hold_out(uneven, ["a", "b", "c"], 0.5, 0)


def test_a_misleading_split_is_refused_when_the_folder_is_loaded(tmp_path):
    root = classes_of(tmp_path / "shapes", [14, 14, 14])
    with pytest.raises(DatasetError, match=r"^--test-fraction 0.99 leaves too few images in the training split"):
        load(root, test_fraction=0.99)
    assert len(load(root, test_fraction=0.89).train) == 3 * 2


def test_a_test_folder_of_one_class_is_refused(tmp_path):
    classes_of(tmp_path / "r" / "train", [3, 3])
    classes_of(tmp_path / "r" / "test", [2])
    with pytest.raises(DatasetError, match=r"r/test holds images of one class only \(c0\), and a test split "
                                           r"needs two classes or more"):
        load(tmp_path / "r")


def test_the_held_out_files_are_named_and_reproducible(tmp_path):
    root = classes_of(tmp_path / "r", [10, 6])
    one, two = load(root, seed=3), load(root, seed=3)
    assert one.held_out == two.held_out == sorted(one.test.paths)
    assert len(one.held_out) == 2 + 1 and len(one.train) == 13
    assert set(one.held_out).isdisjoint(one.train.paths)
    assert one.source["layout"] == "held out" and one.source["test_fraction"] == 0.2 and one.source["seed"] == 3
    assert load(root, seed=4).held_out != one.held_out or load(root, seed=5).held_out != one.held_out


def test_train_and_test_folders_are_the_two_splits(tmp_path):
    classes_of(tmp_path / "r" / "train", [3, 4])
    classes_of(tmp_path / "r" / "test", [2, 1], start=50)
    save(tmp_path / "r" / "val" / "c0" / "x.png", pattern(24, 24, 0))
    (tmp_path / "r" / "test" / "labels.csv").write_text("a,b")
    data = load(tmp_path / "r")
    assert data.held_out is None and data.source["layout"] == "train and test folders"
    assert sorted(data.train.paths) == ([f"train/c0/{i:03d}.png" for i in range(3)]
                                        + [f"train/c1/{i:03d}.png" for i in range(4)])
    assert data.test.labels.tolist() == [0, 0, 1] and data.test.paths[0] == "test/c0/000.png"
    assert data.warnings == [f"{tmp_path / 'r'}: ignored beside train/ and test/: val/",
                             f"{tmp_path / 'r'}: ignored 1 file outside the class folders: test/labels.csv"]


def test_train_and_test_folders_that_disagree_are_refused(tmp_path):
    classes_of(tmp_path / "a" / "train", [3, 3])
    save(tmp_path / "a" / "test" / "c9" / "x.png", pattern(24, 24, 0))
    with pytest.raises(DatasetError, match=r"test holds class folders that .*train does not: c9"):
        load(tmp_path / "a")
    classes_of(tmp_path / "b" / "train", [3, 3])
    with pytest.raises(DatasetError, match=r"holds train/ of class folders but no test/: give both"):
        load(tmp_path / "b")


def test_normalisation_comes_from_the_training_split(tmp_path):
    save(tmp_path / "r" / "train" / "dark" / "a.png", np.zeros((20, 20), dtype=np.uint8))
    save(tmp_path / "r" / "train" / "light" / "a.png", np.full((20, 20), 255, dtype=np.uint8))
    save(tmp_path / "r" / "test" / "light" / "a.png", np.full((20, 20), 255, dtype=np.uint8))
    save(tmp_path / "r" / "test" / "dark" / "a.png", np.full((20, 20), 255, dtype=np.uint8))  # not dark at all
    data = load(tmp_path / "r")
    assert data.train.mean == data.test.mean == pytest.approx((0.5,))
    assert data.train.std == data.test.std == pytest.approx((0.5,))
    colour = np.zeros((20, 20, 3), dtype=np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 255, 51, 0
    save(tmp_path / "c" / "a" / "1.png", colour)
    save(tmp_path / "c" / "a" / "2.png", colour)
    save(tmp_path / "c" / "b" / "1.png", colour)
    save(tmp_path / "c" / "b" / "2.png", colour)
    save(tmp_path / "c" / "a" / "3.png", colour)
    save(tmp_path / "c" / "b" / "3.png", colour)
    data = load(tmp_path / "c", test_fraction=0.3)
    assert data.train.mean == pytest.approx((1.0, 0.2, 0.0)) and data.train.std == (1.0, 1.0, 1.0)  # constant: 1


# --- what the argument names ---------------------------------------------------------------------

def test_a_known_name_wins_unless_the_argument_is_a_path(tmp_path, monkeypatch, tiny_data):
    monkeypatch.chdir(tmp_path)
    classes_of(tmp_path / "mnist", [3, 3])
    assert not is_path("mnist") and not is_path("FashionMNIST")
    assert is_path("./mnist") and is_path("mnist/") and is_path("data/pets") and is_path("pets") and is_path(".")
    data = load_dataset("mnist", tiny_data, progress=False)
    assert data.name == "MNIST" and data.train.shape == (1, 28, 28) and data.held_out is None
    assert data.warnings == ["'mnist' is the built-in MNIST, not the folder mnist/ here: "
                             "write ./mnist to train on the folder"]
    folder_data = load_dataset("./mnist", tiny_data, progress=False)
    assert folder_data.name == "mnist" and folder_data.class_names == ["c0", "c1"]
    assert dataset_name("fashionmnist") == "FashionMNIST" and dataset_name("data/pets/") == "pets"
    assert dataset_name(".") == tmp_path.name and dataset_name(str(tmp_path / "mnist")) == "mnist"
    with pytest.raises(DatasetError, match="cifar does not exist: expected MNIST, FashionMNIST or a folder"):
        load_dataset("cifar", tiny_data, progress=False)
    with pytest.raises(DatasetError, match="--image-size 32 applies to image folders only"):
        load_dataset("MNIST", tiny_data, image_size=32, progress=False)


def test_mnist_through_the_entry_point_is_what_load_split_gives(tiny_data):
    from datasets import load_split
    data = load_dataset("FASHIONMNIST", tiny_data, progress=False)
    assert data.name == "FashionMNIST" and data.class_names[0] == "T-shirt/top"
    assert torch.equal(data.train.images, load_split("FashionMNIST", tiny_data, train=True).images)
    assert data.source == {"kind": "known", "name": "FashionMNIST", "images": {"train": 120, "test": 50},
                           "shape": [1, 28, 28], "mean": [0.286], "std": [0.353]}


# --- the cache -----------------------------------------------------------------------------------

def refuse_to_decode(monkeypatch):
    def refuse(*args):
        raise AssertionError("decoded although the cache holds the images")
    monkeypatch.setattr(decode, "decode", refuse)
    monkeypatch.setattr(decode, "probe", refuse)


def test_a_second_load_reads_the_cache_and_gives_the_same_data(tmp_path, monkeypatch):
    root = mixed_folder(tmp_path / "zoo")
    (root / "apple" / "junk.txt").write_text("x")
    first = load(root)
    assert not first.from_cache
    assert [name for name in os.listdir(tmp_path / "cache")] == [os.path.basename(cache.location(str(root), None))]
    refuse_to_decode(monkeypatch)
    second = load(root)
    assert second.from_cache and second.warnings == first.warnings and len(second.warnings) == 1
    for a, b in ((first.train, second.train), (first.test, second.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert a.paths == b.paths and a.mean == b.mean and a.std == b.std
    assert second.held_out == first.held_out
    assert load(root, seed=9).from_cache  # the split is drawn after the cache: another seed reads it too


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.VARIABLE, str(tmp_path / "mine"))
    assert cache.folder() == str(tmp_path / "mine")
    monkeypatch.delenv(cache.VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.folder() == os.path.join(str(tmp_path / "xdg"), "siamese-networks")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.folder() == os.path.join(str(tmp_path / "home"), ".cache", "siamese-networks")


def test_a_changed_folder_or_another_size_decodes_again(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [3, 3])
    load(root)
    calls = []
    real = decode.decode
    monkeypatch.setattr(decode, "decode", lambda path, size: calls.append(path) or real(path, size))
    assert load(root).from_cache and calls == []
    os.utime(os.path.join(root, "c0", "001.png"), ns=(1, 10**18))  # only its modification time changes
    assert not load(root).from_cache and len(calls) == 6
    assert load(root).from_cache and len(calls) == 6
    assert not load(root, image_size=20).from_cache and load(root, image_size=20).from_cache
    assert load(root).from_cache  # each size has its own file
    save(os.path.join(root, "c1", "new.png"), pattern(24, 24, 99))
    data = load(root)
    assert not data.from_cache and len(data.train) + len(data.test) == 7


def test_a_corrupt_cache_is_rebuilt_silently(tmp_path):
    root = classes_of(tmp_path / "r", [3, 3])
    first = load(root)
    location = cache.location(root, None)
    for garbage in (b"", b"not a torch file", open(location, "rb").read()[:100]):
        with open(location, "wb") as f:
            f.write(garbage)
        again = load(root)
        assert not again.from_cache and again.warnings == []
        assert torch.equal(again.train.images, first.train.images)
        assert load(root).from_cache


def test_the_cache_is_written_atomically(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [3, 3])
    load(root)
    location = cache.location(root, None)
    before = open(location, "rb").read()
    os.utime(os.path.join(root, "c0", "000.png"), ns=(1, 10**18))  # stale: the next load rewrites it

    def torn(content, file):  # a write that dies half way (a full disk, a kill)
        file.write(b"half a file")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", torn)
    data = load(root)
    assert data.warnings == [f"could not write the cache of decoded images (No space left on device in "
                             f"{os.path.dirname(location)}); the next run decodes {root} again"]
    assert open(location, "rb").read() == before  # the old file is whole; no half file took its name
    assert os.listdir(os.path.dirname(location)) == [os.path.basename(location)]  # no temporary left


def test_an_unwritable_cache_folder_is_a_warning(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [3, 3])
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv(cache.VARIABLE, str(tmp_path / "blocked" / "cache"))
    data = load(root)
    (warning,) = data.warnings
    assert warning.startswith("could not write the cache of decoded images (") and len(data.train) == 4


# --- memory, threads, progress ---------------------------------------------------------------------

def test_images_that_would_not_fit_in_memory_are_refused_before_decoding(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [5, 5], size=(28, 28))
    monkeypatch.setattr(folder, "available_memory", lambda: 2000)
    refuse_to_decode_pixels = []
    monkeypatch.setattr(decode, "decode", lambda *args: refuse_to_decode_pixels.append(args))
    # 10 images of 1x28x28 need 7,840 bytes; half of 2,000 is 1,000, and 10 x 10 x 10 = 1,000 fits.
    with pytest.raises(DatasetError) as error:
        load(root)
    assert str(error.value) == ("10 images of 1x28x28 need 7.8 KB, more than 50% of the 2.0 KB of memory "
                                "available; --image-size 10 or smaller fits")
    assert refuse_to_decode_pixels == []
    monkeypatch.undo()
    monkeypatch.setenv(cache.VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(folder, "available_memory", lambda: 2000)
    assert load(root, image_size=10).train.shape == (1, 10, 10)


def test_a_gpu_too_small_for_the_images_is_refused_before_copying(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [5, 5], size=(28, 28))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4000, 10**9))
    with pytest.raises(DatasetError, match=r"^10 images of 1x28x28 need 7.8 KB, more than 50% of the 4.0 KB of "
                                           r"cuda memory available; --image-size 14 or smaller fits$"):
        load(root, device="cuda")


def test_threads_decode_what_one_thread_decodes(tmp_path, monkeypatch):
    root = mixed_folder(tmp_path / "zoo")
    for i in range(150):  # more than one chunk of work per thread
        save(root / "dog" / f"x{i}.png", pattern(26, 21, 200 + i, channels=3))
    monkeypatch.setattr(folder, "CHUNK", 16)
    many = read_folder(str(root), 24, progress=False, use_cache=False)
    monkeypatch.setattr(folder, "THREADS", 1)
    one = read_folder(str(root), 24, progress=False, use_cache=False)
    assert torch.equal(many.images, one.images) and many.paths == one.paths


def test_ctrl_c_while_decoding_stops_without_decoding_the_rest(tmp_path, monkeypatch):
    root = classes_of(tmp_path / "r", [40, 40])
    monkeypatch.setattr(folder, "CHUNK", 4)
    calls = []

    def interrupted(path, size):  # the first image is interrupted; the others take a while each
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        time.sleep(0.05)
        return np.zeros((size, size), dtype=np.uint8)
    monkeypatch.setattr(decode, "decode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load(root)
    assert len(calls) < 40  # the chunks under way finish; the 20 chunks queued are not begun
    assert not os.path.exists(tmp_path / "cache")


def test_decoding_writes_nothing_to_stdout(tmp_path, capsys):
    load(classes_of(tmp_path / "r", [3, 3]), progress=True)
    assert capsys.readouterr().out == ""
