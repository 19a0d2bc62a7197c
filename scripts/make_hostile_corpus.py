"""Generate (never download) a corpus of hostile, broken and valid upload files.

    python scripts/make_hostile_corpus.py OUT_DIR [--no-large]

Writes one file per case plus ``manifest.json``: ``[{"file", "expect": "reject"|"accept",
"why", "message"}]`` where ``message`` is a fragment the refusal message must contain. The
tests run every case through ``inference.decode.decode_upload``; the portal's tests post them to
the form and the API.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "tests" / "samples"
LARGE_BYTES = 21 * 1024 * 1024  # over the 20 MB upload limit


@dataclass(frozen=True)
class Case:
    file: str
    expect: str  # "reject" | "accept"
    why: str
    message: str = ""  # a fragment of the expected refusal message (lower case)


# --------------------------------------------------------------------------- building blocks
def radiograph_like(size: int = 256) -> np.ndarray:
    """A frontal chest radiograph for controls: a sample image, else a synthetic phantom."""
    path = SAMPLES / "normal.jpg"
    if path.is_file():
        img = Image.open(path).convert("L")
        img.thumbnail((size, size))
        return np.asarray(img, dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = np.exp(-(((xx - 0.5) / 0.42) ** 8 + ((yy - 0.55) / 0.5) ** 8))
    lungs = sum(
        np.exp(-(((xx - cx) / 0.14) ** 2 + ((yy - 0.5) / 0.28) ** 2)) for cx in (0.32, 0.68)
    )
    arr = 40 + 170 * body - 110 * lungs + 60 * np.exp(-(((xx - 0.5) / 0.05) ** 2))
    return np.clip(arr, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray | Image.Image, fmt: str, **params) -> bytes:
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_declaring(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A grayscale PNG whose IHDR says width x height; IDAT holds ``rows`` zero rows (all if None).

    Streams the compressor, so a huge declared image stays a tiny file and cheap to build.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(height if rows is None else rows)]
    parts.append(comp.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def minimal_pdf() -> bytes:
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer << /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def dicom_cases(control: np.ndarray) -> dict[str, bytes]:
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    from inference.dicom import to_bytes
    from scripts.make_sample_dicoms import build_dataset, j2k_lossless_dataset

    root = "1.2.826.0.1.3680043.8.498.77"
    valid = to_bytes(build_dataset(control, sop_uid=f"{root}.1"))
    no_pixels = build_dataset(control, sop_uid=f"{root}.2")
    del no_pixels.PixelData
    pos = valid.find(b"\xe0\x7f\x10\x00OW")
    absurd = valid[: pos + 8] + struct.pack("<I", 0xFFFFFFF0) + valid[pos + 12 :]
    ct = build_dataset(control, sop_uid=f"{root}.3", modality="CT")
    lateral = build_dataset(control, sop_uid=f"{root}.4", view="LL")
    unsupported = build_dataset(control, sop_uid=f"{root}.5")
    unsupported.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 video
    unsupported.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    unsupported["PixelData"].VR = "OB"
    unsupported["PixelData"].is_undefined_length = True
    j2k = to_bytes(j2k_lossless_dataset(control, sop_uid=f"{root}.7"))
    siz = j2k.find(b"\xff\x4f\xff\x51")  # JPEG 2000 SIZ marker: patch the declared size
    j2k_bomb = j2k[: siz + 8] + struct.pack(">II", 60_000, 60_000) + j2k[siz + 16 :]
    multi = build_dataset(control, sop_uid=f"{root}.6")
    multi.NumberOfFrames = 40
    return {
        "dicom_valid.dcm": valid,
        "dicom_no_pixel_data.dcm": to_bytes(no_pixels),
        "dicom_absurd_length.dcm": absurd,
        "dicom_truncated.dcm": valid[: len(valid) * 2 // 3],
        "dicom_ct.dcm": to_bytes(ct),
        "dicom_lateral.dcm": to_bytes(lateral),
        "dicom_unsupported_compression.dcm": to_bytes(unsupported),
        "dicom_multiframe.dcm": to_bytes(multi),
        "dicom_without_preamble.dcm": valid[132:],
        "dicom_j2k_bomb.dcm": j2k_bomb,
    }


# --------------------------------------------------------------------------- the corpus
def build(out: Path, *, include_large: bool = True) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    control = radiograph_like()
    png = encode(control, "PNG")
    jpeg = encode(control, "JPEG", quality=90)
    rgb = Image.fromarray(control).convert("RGB")
    html = b"<html><body><script>alert(document.cookie)</script></body></html>\n"
    files: dict[str, bytes] = {}
    cases: list[Case] = []

    def add(name: str, data: bytes, expect: str, why: str, message: str = "") -> None:
        files[name] = data
        cases.append(Case(name, expect, why, message.lower()))

    add("empty.png", b"", "reject", "0-byte file", "empty")
    add(
        "text_named.png",
        b"This is not an image, only text that was renamed to .png.\n" * 20,
        "reject",
        "a text file named .png",
        "not a png, jpeg or dicom",
    )
    add("truncated.png", png[: len(png) // 2], "reject", "truncated PNG", "damaged or incomplete")
    add(
        "truncated.jpg",
        jpeg[: len(jpeg) // 2],
        "reject",
        "truncated JPEG",
        "damaged or incomplete",
    )
    add("html_payload.png", png + html, "reject", "PNG with HTML/JS appended", "appended")
    add("js_payload.jpg", jpeg + b"<script>fetch('/x')</script>", "reject", "JPEG + JS", "appended")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("readme.txt", "payload")
    add("zip_appended.jpg", jpeg + zbuf.getvalue(), "reject", "JPEG/ZIP polyglot", "appended")
    add(
        "junk_appended.png",
        png + bytes(range(256)) * 8,
        "reject",
        "2 KB of unexplained data after IEND",
        "appended",
    )
    add(
        "bomb.png",
        png_declaring(50_000, 50_000, rows=8),
        "reject",
        "decompression bomb: a tiny PNG declaring 50000x50000",
        "impossibly large",
    )
    add(
        "over_pixel_limit.png",
        png_declaring(7_000, 6_000),
        "reject",
        "42 megapixels: over the 40 MP limit, under Pillow's bomb threshold",
        "too large",
    )
    add("tiny.png", encode(control[:32, :32], "PNG"), "reject", "32x32 pixels", "too small")
    frames = [Image.fromarray(np.roll(control, 8 * i, axis=1)) for i in range(3)]
    add(
        "animated.gif",
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "reject",
        "animated GIF",
        "not a png, jpeg or dicom",
    )
    add(
        "animated.png",
        encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
        "reject",
        "animated PNG (APNG)",
        "animated",
    )
    add("image.tiff", encode(control, "TIFF"), "reject", "TIFF", "tiff")
    add("image.bmp", encode(control, "BMP"), "reject", "BMP", "bmp")
    try:
        add("image.webp", encode(rgb, "WEBP"), "reject", "WebP", "webp")
    except (KeyError, OSError):
        pass
    add("document.pdf", minimal_pdf(), "reject", "PDF", "pdf")
    add(
        "drawing.svg",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
        b'height="100"><script>alert(1)</script><rect width="100" height="100"/></svg>\n',
        "reject",
        "SVG with a script",
        "svg",
    )
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("xray.png", png)
    add("archive.zip", zbuf.getvalue(), "reject", "ZIP holding a PNG", "zip")
    add(
        "heic_photo.heic",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "reject",
        "HEIC header (iPhone photo)",
        "heic",
    )
    add("random.bin", np.random.default_rng(0).bytes(4096), "reject", "random bytes", "not a png")
    dicoms = dicom_cases(control)
    add(
        "dicom_no_pixel_data.dcm",
        dicoms["dicom_no_pixel_data.dcm"],
        "reject",
        "DICOM without pixel data",
        "no pixel data",
    )
    add(
        "dicom_absurd_length.dcm",
        dicoms["dicom_absurd_length.dcm"],
        "reject",
        "DICOM whose pixel data declares ~4 GB",
        "damaged",
    )
    add(
        "dicom_truncated.dcm",
        dicoms["dicom_truncated.dcm"],
        "reject",
        "DICOM cut short",
        "damaged",
    )
    add("dicom_ct.dcm", dicoms["dicom_ct.dcm"], "reject", "DICOM of modality CT", "ct image")
    add("dicom_lateral.dcm", dicoms["dicom_lateral.dcm"], "reject", "ViewPosition LL", "frontal")
    add(
        "dicom_unsupported_compression.dcm",
        dicoms["dicom_unsupported_compression.dcm"],
        "reject",
        "transfer syntax MPEG2",
        "unsupported compression",
    )
    add(
        "dicom_multiframe.dcm",
        dicoms["dicom_multiframe.dcm"],
        "reject",
        "40-frame DICOM",
        "frames",
    )
    add(
        "dicom_without_preamble.dcm",
        dicoms["dicom_without_preamble.dcm"],
        "reject",
        "raw DICOM dataset without the Part 10 preamble",
        "not a png, jpeg or dicom",
    )
    add(
        "dicom_j2k_bomb.dcm",
        dicoms["dicom_j2k_bomb.dcm"],
        "reject",
        "JPEG 2000 frame declaring 60000x60000 inside a 256 px DICOM",
        "does not match the size",
    )
    # Valid controls: the same checks must let these through.
    add("control.png", png, "accept", "valid grayscale PNG")
    add("control.jpg", jpeg, "accept", "valid grayscale JPEG")
    add("control_rgb.jpg", encode(rgb, "JPEG", quality=90), "accept", "valid RGB JPEG")
    add("control_16bit.png", encode(Image.fromarray(control.astype(np.uint16) * 257), "PNG"),
        "accept", "valid 16-bit PNG")  # fmt: skip
    add("control_padding.png", png + b"\x00" * 16, "accept", "16 zero bytes after IEND")
    add("control.dcm", dicoms["dicom_valid.dcm"], "accept", "valid DICOM")
    for name, data in files.items():
        (out / name).write_bytes(data)
    if include_large:
        name = "oversize.png"
        with open(out / name, "wb") as fh:  # sparse: costs no disk, reads as zeros
            fh.write(png[:64])
            fh.truncate(LARGE_BYTES)
        cases.append(Case(name, "reject", "21 MB file: over the 20 MB limit", "too large"))
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], indent=1) + "\n")
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--no-large", action="store_true", help="skip the 21 MB file")
    args = parser.parse_args(argv)
    cases = build(args.out, include_large=not args.no_large)
    for case in cases:
        print(f"{case.expect:7s} {case.file:36s} {case.why}")
    print(f"{len(cases)} files -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
