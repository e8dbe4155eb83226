"""Draw brand/icon.png and brand/logo.png (run with the dev venv: Pillow ships with HA)."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components/ptz_email_alert/brand"
BLUE, WHITE, RED = (3, 105, 161), (255, 255, 255), (220, 38, 38)


def draw_mark(size: int) -> Image.Image:
    """A camera lens inside an envelope, with an alert dot."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size / 256
    d.rounded_rectangle([8 * s, 8 * s, 248 * s, 248 * s], radius=48 * s, fill=BLUE)
    d.rounded_rectangle([40 * s, 72 * s, 216 * s, 192 * s], radius=12 * s, fill=WHITE)
    d.line([(44 * s, 78 * s), (128 * s, 140 * s), (212 * s, 78 * s)], fill=BLUE, width=int(10 * s))
    d.ellipse([98 * s, 118 * s, 158 * s, 178 * s], fill=BLUE)
    d.ellipse([114 * s, 134 * s, 142 * s, 162 * s], fill=WHITE)
    d.ellipse([178 * s, 40 * s, 226 * s, 88 * s], fill=RED, outline=WHITE, width=int(6 * s))
    return img


def main() -> None:
    """Write the icon (256 and 512 px) and a wide logo."""
    BRAND.mkdir(parents=True, exist_ok=True)
    draw_mark(256).save(BRAND / "icon.png")
    draw_mark(512).save(BRAND / "icon@2x.png")
    logo = Image.new("RGBA", (768, 256), (0, 0, 0, 0))
    logo.paste(draw_mark(256), (0, 0))
    d = ImageDraw.Draw(logo)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 64)
    except OSError:
        font = ImageFont.load_default(size=64)
    d.text((276, 60), "PTZ", fill=BLUE, font=font)
    d.text((276, 132), "Email Alert", fill=BLUE, font=font)
    logo.save(BRAND / "logo.png")


if __name__ == "__main__":
    main()
