"""Generate the bundled example corpus in ``examples/`` (overwrites in place).

Everything here is written by us for a fictional company, Northwind Solar, so the corpus carries no licence
doubts. The output is deterministic: text is fixed, images use a seeded RNG, and the PDF has a fixed creation
date, so re-running the script yields identical bytes with the same Pillow and fpdf2 versions.

    .venv/bin/python examples/make_examples.py      # or: make examples

Needs Pillow and fpdf2 (a dev dependency).
"""

from __future__ import annotations

import io
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

log = logging.getLogger("make_examples")

ROOT = Path(__file__).resolve().parent
SEED = 20250101
PDF_CREATION_DATE = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

# Figures shared by the images, the documents and the annual report, so they agree with each other.
INSTALLATIONS_BY_YEAR = [
    ("2019", 3100),
    ("2020", 4200),
    ("2021", 5900),
    ("2022", 7800),
    ("2023", 9600),
    ("2024", 10900),
    ("2025", 12400),
]
REVENUE_MEUR = [("2021", 21.5), ("2022", 27.0), ("2023", 31.8), ("2024", 35.6), ("2025", 42.0)]
INSTALLATIONS_2025_BY_COUNTRY = [
    ("Netherlands", 4300),
    ("Spain", 3500),
    ("Germany", 2600),
    ("Belgium", 1200),
    ("France", 800),
]

# --------------------------------------------------------------------------------------------------------------
# Text documents
# --------------------------------------------------------------------------------------------------------------

BATTERY_WARRANTY_MD = """\
# Helios 400 Battery: Warranty and Maintenance

The Helios 400 is the home battery made by Northwind Solar. It stores 10 kWh of usable energy, delivers 5 kW of
continuous power and is designed to pair with Aurora solar panels and the Northwind H5 hybrid inverter. This page
explains the warranty that comes with every Helios 400 and the small amount of care the battery needs.

## Warranty terms

The Helios 400 battery carries a 12-year warranty from the date of installation. Northwind Solar guarantees that
the battery keeps at least 70% of its original usable capacity at the end of the warranty period or after 6,000
full charge cycles, whichever comes first. If the capacity drops below that level earlier, we repair or replace
the battery free of charge, including the installer's labour.

To receive the full 12 years, register the battery in the Northwind Home app within 60 days of installation.
Batteries that are never registered are covered for 5 years only. The warranty does not cover damage caused by
flooding or fire, installation by an installer who is not Northwind-certified, or opening the sealed enclosure.

## Making a warranty claim

Write to warranty@northwind-solar.example with the serial number of the battery (it starts with HX4- and is
printed on the label under the front cover) and a short description of the problem. The Northwind Home app can
attach a diagnostic log for you. When a claim is approved, a replacement battery module is shipped within 10
working days and a certified installer fits it at no cost to you.

## Maintenance

The Helios 400 needs very little maintenance. Every three months, check the ventilation grille on the left side
and remove dust with a dry cloth; never use water or solvents on the battery. Keep the room between -10 °C and
45 °C; the battery works best between 15 °C and 25 °C and reduces its charging power outside that range to
protect the cells.

Firmware updates are installed automatically at night between 02:00 and 04:00. A slowly blinking amber status
light means the battery is balancing its cells, which is normal and takes up to an hour. A steady red light
means a fault: switch the battery off with the isolator switch and contact support.

If the battery will be disconnected for more than three months, for example during a renovation, charge it to
about 50% first and store it in a dry, frost-free place.

## End of life

When a Helios 400 reaches the end of its life, Northwind Solar collects it free of charge and sends it to our
recycling partner, who recovers the lithium, cobalt-free cathode material, copper and aluminium.
"""

INSTALLATION_GUIDE_MD = """\
# Installation Guide: Aurora 410 Panels and the Helios 400 Battery

This guide is for Northwind-certified installers who fit Aurora 410 solar panels, the Northwind H5 hybrid
inverter and the Helios 400 home battery. It covers the site survey, mounting, electrical work, commissioning
and the maintenance schedule that the homeowner should follow afterwards. Always follow local building codes
and electrical regulations; where they are stricter than this guide, they take precedence.

## 1. Before you start: the site survey

Every installation begins with a site survey. Visit the property, inspect the roof from the inside and the
outside, and record the results in the Northwind Installer app so that the design team can check them.

The roof structure must be able to carry an additional load of at least 15 kg per square metre. An Aurora 410
panel weighs 21.5 kg and measures 1,722 by 1,134 mm, so a typical array of 10 panels adds about 215 kg plus the
mounting rails. If the rafters show signs of rot, sagging or insect damage, stop and ask for a structural
assessment before going any further.

Orientation and tilt matter more than any other design choice. In central and northern Europe the best yield
comes from a south-facing roof with a tilt between 30 and 35 degrees. East-west arrays lose about 12% of annual
yield compared with a south-facing array, but they spread production more evenly over the day, which suits
homes with a battery. Avoid north-facing roof surfaces entirely.

Check shading carefully. Chimneys, dormers, satellite dishes, trees and neighbouring buildings can all cast
shadows. Use the shading tool in the Installer app at three times of day (09:00, 12:00 and 15:00) and note the
season. A single shaded panel can pull down the output of a whole string, so group panels that share the same
shading pattern on the same inverter input.

Finally, inspect the existing electrical installation. Note the size of the main fuse, the condition of the
consumer unit and whether there is a free slot for a new circuit breaker. If the consumer unit is older than
30 years or has no residual-current protection, it must be upgraded before the solar system is connected.

## 2. Mounting the panels

Use only the Northwind TR-2 rail system and the roof hooks supplied for the roof type (tiles, slate or metal
sheet). Mixing components from other manufacturers voids the system warranty.

Place the roof hooks on the rafters, never on the battens alone. The distance between two hooks along a rail
must not exceed 1.2 metres, and in areas with heavy snow loads it should be reduced to 0.8 metres. Tighten the
hook screws to a torque of 12 Nm with a calibrated torque wrench. Replace any tile that cracks while you are
fitting a hook; a cracked tile is the most common cause of roof leaks after an installation.

Mount the rails level and parallel. Leave a gap of at least 10 centimetres between the back of the panels and
the roof surface so that air can circulate; panels that run hot produce less electricity. Keep the array at
least 30 centimetres away from the roof edges and the ridge. This keeps the panels out of the strongest wind
loads and gives firefighters a safe path on the roof.

Fix each panel with four clamps, two on each rail, placed within the clamping zones marked on the panel frame.
Mid clamps join two neighbouring panels and end clamps finish each row. Tighten the clamps to 8 Nm. Do not walk
on the panels and do not drill holes in the aluminium frames.

## 3. Electrical work

Only a qualified electrician may carry out the electrical work described in this section. Solar panels produce
voltage as soon as light falls on them, so cover the array with an opaque sheet or work at dusk when making DC
connections.

Connect the panels in series strings. Each input of the Northwind H5 inverter, called an MPPT input, accepts one
string of up to 12 Aurora 410 panels. Use 6 mm² solar cable for the DC runs and the original MC4-compatible
connectors; never mix connector brands, because poorly matched connectors can overheat. Route the cables so
that they do not lie in water or rub against sharp edges, and protect them with UV-resistant conduit where they
are exposed.

Install a DC isolator switch between the array and the inverter, within sight of the inverter. The DC isolator
lets anyone disconnect the panels safely in an emergency. On the AC side, connect the inverter to its own
circuit in the consumer unit with a dedicated circuit breaker and a type A residual-current device. The H5
inverter must be earthed, and the mounting rails must be bonded to the same earth.

Mount the inverter on a wall that is not exposed to direct sunlight, at eye level so the display can be read.
Keep 30 centimetres of free space above and below the inverter so that it can shed heat.

## 4. Installing the Helios 400 battery

The Helios 400 battery should be installed indoors, for example in a garage, utility room or basement, where
the temperature stays between 5 °C and 30 °C most of the year. Do not install it in a bedroom, in a bathroom or
in an escape route such as a hallway or staircase. The wall must carry the battery's weight of 98 kg; use the
wall bracket and the four M10 anchors supplied.

Leave at least 20 centimetres of clearance on each side of the battery for ventilation and servicing. Connect
the battery to the battery port of the H5 inverter with the pre-made 2-metre DC cable from the accessory box;
if a longer cable is needed, it must not exceed 5 metres. Connect the communication cable (RJ45, labelled BMS)
between the battery and the inverter before switching anything on.

## 5. Commissioning

When all mechanical and electrical work is finished, commission the system in this order:

1. Measure the open-circuit voltage and the polarity of each string with a multimeter. The open-circuit voltage
   of a string must be within 3% of the value calculated by the design tool.
2. Carry out an insulation resistance test on each string. The resistance must be above 1 megaohm.
3. Close the AC circuit breaker, then the DC isolator, then switch on the battery.
4. Open the Northwind Installer app, scan the QR code on the inverter and enter the commissioning code from the
   design report. The app sets the grid code for the country automatically.
5. Wait for the first battery charge cycle to start, check that production appears in the app, and hand the
   system over to the homeowner.

Give the homeowner a short walk-through: where the isolators are, how to read the status lights, and how to
register the battery in the Northwind Home app, which is needed for the full battery warranty.

## 6. Maintenance after installation

A solar system needs little maintenance, but a few simple habits keep the yield high for decades.

The solar panels should be cleaned twice a year, ideally in spring and in autumn. Use a soft brush or sponge
and deionised water. Never use a pressure washer, abrasive cleaners or detergents, as these damage the
anti-reflective coating on the glass. Clean the panels early in the morning or in the evening, when the glass
is cool. Panels that are hard to reach should be cleaned by a professional with the right safety equipment;
do not climb onto the roof yourself.

Once a year, look at the array from the ground with binoculars and check for loose cables, damaged panels, bird
nests under the array and moss on the frames. Every five years, a certified installer should inspect the
mounting system, re-check the torque on a sample of roof hooks and test the insulation resistance again.

Keep an eye on production in the Northwind Home app. A sudden drop of more than 15% compared with the same week
in the previous year usually points to a fault, heavy soiling or new shading.

## 7. Troubleshooting

The inverter display and the app show an error code when something goes wrong. The most common codes are:

- E07: the grid voltage is outside the permitted range. The inverter reconnects automatically when the voltage
  recovers. If E07 appears several times a day, ask the grid operator to check the local voltage.
- E12: the battery temperature is too high. Check the clearance around the battery and the room temperature.
- E19: an insulation fault on the DC side. Switch off the DC isolator and call a certified installer; do not
  touch the cables.
- E23: the inverter has lost contact with the battery. Check the BMS communication cable.

For any other code, or if a code keeps returning, contact Northwind installer support with the serial number of
the inverter and a photo of the display.
"""

COMPANY_HISTORY_TXT = """\
Northwind Solar: Company History

Northwind Solar was founded in 2009 in Rotterdam, the Netherlands, by engineers Ingrid Vos and Tomás Herrera.
The two met while working on offshore wind projects and started the company in a rented workshop in the port
area with a simple goal: make rooftop solar affordable and dependable for ordinary households.

The first product, the Aurora 250 solar panel, went on sale in 2011. It was assembled by hand from imported
cells, and the company sold just over 900 panels in its first year, mostly to homeowners in South Holland.
A partnership with a Dutch housing cooperative in 2014 brought the first large order: panels for 1,800
social-housing roofs.

In 2018 Northwind opened its own panel factory in Valencia, Spain, chosen for its sunny climate for outdoor
testing and its access to the port. The factory started with one production line and now runs three. The same
year the company launched the Aurora 330 panel and began selling in Spain and Belgium.

The Northwind Home app, which lets customers follow their production and consumption in real time, was released
in 2020. In 2023 the company entered the storage market with the Helios battery line; the Helios 400 home
battery was the first model. The current Aurora 410 panel followed in 2024.

Today Northwind Solar is headquartered in Rotterdam, employs 340 people across the Netherlands, Spain and
Germany, and has equipped more than 60,000 homes with solar panels. Ingrid Vos is chief executive officer and
Tomás Herrera leads research and development. The company remains privately owned by its founders and
employees.

Milestones
2009  Company founded in Rotterdam by Ingrid Vos and Tomás Herrera
2011  First product: Aurora 250 panel
2014  First large order, 1,800 social-housing roofs
2018  Panel factory opens in Valencia, Spain; Aurora 330 launched
2020  Northwind Home app released
2023  Helios 400 home battery launched
2024  Aurora 410 panel launched
2025  Record year with 12,400 installations
"""

PRODUCT_FAQ_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Aurora 410 Solar Panel: Frequently Asked Questions</title>
<style>
  body { font-family: sans-serif; max-width: 46rem; margin: 2rem auto; line-height: 1.5; }
  dt { font-weight: bold; margin-top: 1rem; }
</style>
</head>
<body>
<h1>Aurora 410 Solar Panel: Frequently Asked Questions</h1>
<p>Answers to the questions our customers ask most often about the Aurora 410, the current solar panel from
Northwind Solar.</p>

<h2>Performance</h2>
<dl>
  <dt>How efficient is the Aurora 410 panel?</dt>
  <dd>The Aurora 410 converts 22.4% of the sunlight that reaches it into electricity and has a rated power of
  410 watts peak. It uses 108 monocrystalline half-cut cells behind anti-reflective glass.</dd>

  <dt>How much electricity will my panels produce?</dt>
  <dd>In the Netherlands a single Aurora 410 produces about 370 kWh per year on a south-facing roof; in southern
  Spain the same panel produces about 610 kWh. Ten panels cover the annual electricity use of a typical
  Dutch household.</dd>

  <dt>Do the panels work in snow and cloudy weather?</dt>
  <dd>Yes. The panels keep producing under cloud, at a lower output, and they are certified for snow loads of
  up to 5,400 pascal. Snow usually slides off within a day or two of sunshine.</dd>
</dl>

<h2>Warranty and durability</h2>
<dl>
  <dt>What warranty comes with the Aurora 410 panels?</dt>
  <dd>Aurora 410 panels have a 25-year product warranty and a 30-year performance warranty that guarantees at
  least 87% of the original output after 30 years.</dd>

  <dt>Can the panels survive hail?</dt>
  <dd>The front glass is 3.2 mm tempered glass, tested against hailstones of 35 mm at 27 metres per
  second.</dd>
</dl>

<h2>Buying and monitoring</h2>
<dl>
  <dt>Which inverters are compatible?</dt>
  <dd>The Aurora 410 works with the Northwind H5 hybrid inverter and with most string inverters that accept an
  input voltage of up to 1,000 volts. The H5 is needed if you want to add a Helios battery later.</dd>

  <dt>How do I follow my production?</dt>
  <dd>Install the free Northwind Home app for Android or iOS. It shows production, consumption and battery
  charge in real time and sends a monthly summary by e-mail.</dd>

  <dt>Can I return an order?</dt>
  <dd>Orders that have not yet been installed can be cancelled or returned within 30 days for a full
  refund.</dd>

  <dt>How long does it take from order to installation?</dt>
  <dd>Most installations take place within six weeks of the order, and fitting a typical home system takes
  one or two days.</dd>
</dl>
</body>
</html>
"""

# --------------------------------------------------------------------------------------------------------------
# Annual report (PDF): one entry per page; figures are generated below. Core PDF fonts are Latin-1 only.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPage:
    heading: str
    paragraphs: tuple[str, ...]
    figure: str | None = None
    table: tuple[tuple[str, str, str], ...] = ()


REPORT_PAGES: list[ReportPage] = [
    ReportPage(
        heading="Letter from the CEO",
        paragraphs=(
            "2025 was the best year in the history of Northwind Solar. Our installation teams and partners fitted "
            "12,400 solar systems in 2025, more than in any previous year, and for the first time more than a third "
            "of our customers chose to add a Helios home battery.",
            "We did this while keeping our promise to make rooftop solar dependable. Customer satisfaction in our "
            "annual survey reached 4.6 out of 5, and the average time from order to a working system fell to five "
            "weeks.",
            "This report describes our operations, our financial results, our progress on sustainability and our "
            "plans for 2026. Thank you to our 340 colleagues, our installers and our customers for making it "
            "possible.",
            "Ingrid Vos, Chief Executive Officer, Rotterdam, February 2026",
        ),
    ),
    ReportPage(
        heading="Operations",
        paragraphs=(
            "Our factory in Valencia produced 310,000 Aurora panels in 2025, up from 240,000 in 2024. A third "
            "production line was commissioned in May 2025 and doubled the capacity for the Aurora 410 panel.",
            "The Netherlands remained our largest market with 4,300 installations, followed by Spain with 3,500 and "
            "Germany with 2,600. The chart below shows the installations per country.",
            "The average installation took 1.6 days on site, down from 2.1 days in 2024, thanks to pre-assembled "
            "rail kits and the new Northwind Installer app.",
        ),
        figure="country",
    ),
    ReportPage(
        heading="Financial results",
        paragraphs=(
            "Revenue grew 18% to 42 million euros in 2025, compared with 35.6 million euros in 2024. Battery sales "
            "accounted for 38% of revenue, up from 29% a year earlier.",
            "Gross margin improved to 31%. EBITDA was 4.6 million euros, an EBITDA margin of 11%, and net profit "
            "was 2.1 million euros. The company has no bank debt and ended the year with 9.8 million euros in cash.",
            "The chart below shows revenue for the last five years, in millions of euros.",
        ),
        figure="revenue",
    ),
    ReportPage(
        heading="Sustainability",
        paragraphs=(
            "The solar systems installed by Northwind Solar since 2009 avoided an estimated 185,000 tonnes of CO2 "
            "emissions in 2025.",
            "In our Valencia factory, 94% of manufacturing waste was recycled or reused in 2025, and 97% of the "
            "factory's electricity was renewable, most of it from a 2.4 MW solar array on its own roof.",
            "Women made up 41% of new engineering hires. Every employee received at least 24 hours of training, and "
            "there were no lost-time accidents in the factory for the second year running.",
        ),
        table=(
            ("Indicator", "2024", "2025"),
            ("CO2 avoided (tonnes)", "151,000", "185,000"),
            ("Factory waste recycled", "89%", "94%"),
            ("Renewable electricity in factory", "88%", "97%"),
            ("Employees", "295", "340"),
        ),
    ),
    ReportPage(
        heading="Outlook 2026",
        paragraphs=(
            "In the third quarter of 2026 we will launch the Helios 600 battery, a larger model with 15 kWh of usable "
            "capacity for homes with heat pumps and electric cars.",
            "We will open a sales and training office in Lyon, France, in spring 2026 to support our growing "
            "network of French installers.",
            "For 2026 we expect revenue of about 50 million euros and more than 14,000 installations. The main "
            "risks to this outlook are delays in grid connections in the Netherlands and volatile prices for "
            "solar cells.",
        ),
    ),
]


# --------------------------------------------------------------------------------------------------------------
# Drawing helpers
# --------------------------------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _centered_text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, fill: str = "black"
) -> None:
    draw.text(xy, text, font=_font(size), fill=fill, anchor="mm")


def bar_chart(
    data: Sequence[tuple[str, float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[int, int] = (720, 450),
    color: str = "#2f6db5",
    value_format: str = "{:,.0f}",
) -> Image.Image:
    """A plain vertical bar chart with a title, axis labels, gridlines and value labels."""
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 90, width - 30, 60, height - 70
    _centered_text(draw, (width / 2, 28), title, 22)

    vmax = max(v for _, v in data)
    step = 10 ** math.floor(math.log10(vmax))
    if vmax / step < 3:
        step /= 2
    axis_max = math.ceil(vmax / step) * step
    tick = 0.0
    while tick <= axis_max + 1e-9:
        y = bottom - (bottom - top) * tick / axis_max
        draw.line([(left, y), (right, y)], fill="#dddddd", width=1)
        draw.text((left - 8, y), value_format.format(tick), font=_font(13), fill="#333333", anchor="rm")
        tick += step

    slot = (right - left) / len(data)
    for i, (label, value) in enumerate(data):
        x0 = left + slot * i + slot * 0.18
        x1 = left + slot * (i + 1) - slot * 0.18
        y0 = bottom - (bottom - top) * value / axis_max
        draw.rectangle([x0, y0, x1, bottom], fill=color)
        _centered_text(draw, ((x0 + x1) / 2, y0 - 10), value_format.format(value), 13, "#222222")
        _centered_text(draw, ((x0 + x1) / 2, bottom + 14), label, 14)

    draw.line([(left, top - 10), (left, bottom), (right, bottom)], fill="black", width=2)
    _centered_text(draw, ((left + right) / 2, height - 22), xlabel, 16)
    label_img = Image.new("RGB", (bottom - top, 24), "white")
    ImageDraw.Draw(label_img).text(((bottom - top) / 2, 12), ylabel, font=_font(16), fill="black", anchor="mm")
    img.paste(label_img.rotate(90, expand=True), (8, top))
    return img


def red_circle() -> Image.Image:
    img = Image.new("RGB", (400, 400), "white")
    ImageDraw.Draw(img).ellipse([80, 80, 320, 320], fill="#e01b1b")
    return img


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int], color: str) -> None:
    draw.line([start, end], fill=color, width=3)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = [
        end,
        (round(end[0] - 12 * math.cos(angle - 0.4)), round(end[1] - 12 * math.sin(angle - 0.4))),
        (round(end[0] - 12 * math.cos(angle + 0.4)), round(end[1] - 12 * math.sin(angle + 0.4))),
    ]
    draw.polygon(head, fill=color)


def wiring_diagram() -> Image.Image:
    """A schematic of a home system: panels -> DC isolator -> inverter <-> battery, inverter -> home and grid."""
    img = Image.new("RGB", (800, 520), "#f4f7fb")
    draw = ImageDraw.Draw(img)
    _centered_text(draw, (400, 30), "Wiring diagram: Northwind home solar system", 22)

    boxes = {
        "panels": ((40, 90, 250, 170), "Aurora 410 panels", "2 strings x 10 panels"),
        "dc_iso": ((300, 100, 450, 160), "DC isolator", "within sight of inverter"),
        "inverter": ((500, 80, 760, 180), "Northwind H5", "hybrid inverter 5 kW"),
        "battery": ((520, 300, 740, 390), "Helios 400 battery", "10 kWh, BMS cable RJ45"),
        "consumer": ((260, 300, 460, 390), "Consumer unit", "breaker + type A RCD"),
        "meter": ((40, 300, 210, 390), "Grid meter", "bidirectional"),
        "loads": ((260, 440, 460, 500), "Home loads", "lights, heat pump, EV"),
    }
    for (x0, y0, x1, y1), name, detail in boxes.values():
        draw.rounded_rectangle([x0, y0, x1, y1], radius=8, fill="white", outline="#1f3b5c", width=3)
        cx = (x0 + x1) / 2
        _centered_text(draw, (cx, (y0 + y1) / 2 - 11), name, 17, "#1f3b5c")
        _centered_text(draw, (cx, (y0 + y1) / 2 + 12), detail, 12, "#4a5a6a")

    dc, ac, data = "#c0392b", "#1e7b34", "#7f8c8d"
    _arrow(draw, (250, 130), (300, 130), dc)
    _arrow(draw, (450, 130), (500, 130), dc)
    _arrow(draw, (630, 180), (630, 300), dc)
    draw.line([(680, 180), (680, 300)], fill=data, width=2)
    _arrow(draw, (560, 180), (420, 300), ac)
    _arrow(draw, (260, 345), (210, 345), ac)
    _arrow(draw, (360, 390), (360, 440), ac)

    _centered_text(draw, (275, 115), "DC", 13, dc)
    _centered_text(draw, (606, 240), "DC", 13, dc)
    _centered_text(draw, (712, 240), "BMS", 13, data)
    draw.text((468, 245), "AC 230 V", font=_font(13), fill=ac, anchor="rm")
    _centered_text(draw, (235, 330), "AC", 13, ac)

    legend_y = 470
    for i, (color, text) in enumerate([(dc, "DC power"), (ac, "AC power"), (data, "data")]):
        x = 520 + i * 95
        draw.line([(x, legend_y), (x + 24, legend_y)], fill=color, width=3)
        draw.text((x + 30, legend_y), text, font=_font(12), fill="#333333", anchor="lm")
    return img


def sunset_over_panels(rng: random.Random) -> Image.Image:
    """A photo-like scene: a graded sunset sky, a glowing sun, and rows of solar panels on a field."""
    width, height = 640, 420
    horizon = 250
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    top_rgb, mid_rgb, low_rgb = (48, 36, 92), (214, 92, 74), (255, 176, 84)
    for y in range(horizon):
        t = y / horizon
        if t < 0.6:
            a, b, u = top_rgb, mid_rgb, t / 0.6
        else:
            a, b, u = mid_rgb, low_rgb, (t - 0.6) / 0.4
        draw.line([(0, y), (width, y)], fill=tuple(round(a[i] + (b[i] - a[i]) * u) for i in range(3)))
    for y in range(horizon, height):
        u = (y - horizon) / (height - horizon)
        draw.line([(0, y), (width, y)], fill=(round(70 - 40 * u), round(60 - 30 * u), round(40 - 20 * u)))

    glow = Image.new("L", (width, height), 0)
    ImageDraw.Draw(glow).ellipse([400, 150, 560, 310], fill=255)
    glow = glow.filter(ImageFilter.GaussianBlur(30))
    img = Image.composite(Image.new("RGB", (width, height), (255, 214, 140)), img, glow)
    draw = ImageDraw.Draw(img)
    draw.ellipse([452, 202, 508, 258], fill=(255, 236, 190))
    for y in range(horizon, horizon + 8):
        draw.line([(0, y), (width, y)], fill=(40, 34, 30))

    # Rows of tilted panels, nearer rows larger, with cell gridlines and a warm reflection.
    for row, (y, panel_h, panel_w) in enumerate([(270, 22, 52), (300, 30, 70), (345, 42, 98)]):
        x = -20 + row * 17
        while x < width:
            skew = panel_h * 0.45
            quad = [(x + skew, y), (x + panel_w + skew, y), (x + panel_w, y + panel_h), (x, y + panel_h)]
            draw.polygon(quad, fill=(24, 38, 82), outline=(150, 150, 160))
            for k in range(1, 4):
                gx = x + panel_w * k / 4
                draw.line([(gx + skew, y), (gx, y + panel_h)], fill=(60, 74, 120), width=1)
            draw.line([(x + skew / 2, y + panel_h / 2), (x + panel_w + skew / 2, y + panel_h / 2)], fill=(60, 74, 120))
            draw.line([(x + panel_w * 0.55 + skew, y + 2), (x + panel_w * 0.75, y + panel_h - 2)], fill=(230, 140, 90))
            draw.line([(x + panel_w * 0.3, y + panel_h), (x + panel_w * 0.3, y + panel_h + 8)], fill=(30, 30, 30))
            x += panel_w + 14

    # Film grain from the seeded RNG so the picture looks less synthetic but stays reproducible.
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = Image.merge("RGB", (noise, noise, noise))
    return Image.blend(img, grain, 0.06).filter(ImageFilter.GaussianBlur(0.6))


# --------------------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------------------


class _Report(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", "I", 9)
        self.set_text_color(110, 110, 110)
        self.cell(0, 8, "Northwind Solar - Annual Report 2025", align="L")
        self.ln(12)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 9)
        self.set_text_color(110, 110, 110)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def annual_report(figures: dict[str, Image.Image]) -> bytes:
    pdf = _Report(format="A4")
    pdf.set_creation_date(PDF_CREATION_DATE)
    pdf.set_title("Northwind Solar Annual Report 2025")
    pdf.set_author("Northwind Solar")
    pdf.set_subject("Operations, financial results, sustainability and outlook for 2025")
    pdf.set_creator("examples/make_examples.py")
    pdf.set_lang("en")
    pdf.set_auto_page_break(auto=True, margin=20)

    for number, page in enumerate(REPORT_PAGES, start=1):
        pdf.add_page()
        if number == 1:
            pdf.set_font("Helvetica", "B", 26)
            pdf.cell(0, 14, "Northwind Solar", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 18)
            pdf.cell(0, 10, "Annual Report 2025", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(8)
        pdf.set_font("Helvetica", "B", 18)
        pdf.set_text_color(31, 59, 92)
        pdf.cell(0, 12, f"{number}. {page.heading}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        for paragraph in page.paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        if page.figure is not None:
            pdf.ln(2)
            pdf.image(figures[page.figure], x=pdf.l_margin + 10, w=pdf.epw - 20)
        if page.table:
            pdf.ln(2)
            pdf.set_font("Helvetica", "", 10)
            with pdf.table(col_widths=(3, 1, 1), text_align=("LEFT", "RIGHT", "RIGHT")) as t:
                for cells in page.table:
                    t.row(cells)
        if number == 1:
            pdf.ln(6)
            pdf.set_font("Helvetica", "B", 12)
            pdf.cell(0, 8, "Contents", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            for n, other in enumerate(REPORT_PAGES, start=1):
                pdf.cell(0, 7, f"Page {n}: {other.heading}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --------------------------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    log.info("wrote %s (%d bytes)", path.relative_to(ROOT), len(data))


def _image_bytes(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------------------------

# A short "how-to" video: three slides, each shown for 12 seconds, with subtitles that carry facts found nowhere
# else in the corpus, so that a question about them can only be answered from the video (with a time range).
VIDEO_SLIDES = [
    ("Helios 400 maintenance", "Part 1: the air filter", "#1f3b5c"),
    ("Firmware updates", "Part 2: the monitoring app", "#1e7b34"),
    ("Winter mode", "Part 3: cold weather", "#e08a1e"),
]
VIDEO_SLIDE_SECONDS = 12
VIDEO_SUBTITLES = [
    (0.5, 5.5, "Welcome to this short maintenance guide for the Helios 400 home battery."),
    (6.0, 11.5, "The air filter at the back of the cabinet should be cleaned every six months with a soft brush."),
    (12.5, 17.5, "Firmware updates arrive through the Northwind app; install them within thirty days."),
    (18.0, 23.5, "Never unplug the battery while an update is running: the status light blinks blue."),
    (24.5, 29.5, "Below minus ten degrees Celsius the battery switches to winter mode on its own."),
    (30.0, 35.5, "In winter mode charging slows down to protect the cells, which is normal."),
]


def video_slide(title: str, subtitle: str, color: str) -> Image.Image:
    img = Image.new("RGB", (640, 360), color)
    draw = ImageDraw.Draw(img)
    _centered_text(draw, (320, 150), title, 34, "white")
    _centered_text(draw, (320, 210), subtitle, 22, "white")
    return img


def maintenance_video(target: Path) -> None:
    """Encode the slides with the ffmpeg command line (x264, 5 fps); the subtitles go beside as .srt."""
    import shutil
    import subprocess
    import tempfile

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is needed to make the example video (Debian: apt-get install ffmpeg)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs: list[str] = []
        for i, slide in enumerate(VIDEO_SLIDES):
            path = Path(tmp) / f"slide{i}.png"
            video_slide(*slide).save(path)
            inputs += ["-loop", "1", "-framerate", "5", "-t", str(VIDEO_SLIDE_SECONDS), "-i", str(path)]
        joined = "".join(f"[{i}:v]" for i in range(len(VIDEO_SLIDES)))
        command = [
            ffmpeg, "-loglevel", "error", "-y", *inputs,
            "-filter_complex", f"{joined}concat=n={len(VIDEO_SLIDES)}:v=1:a=0[v]", "-map", "[v]",
            "-c:v", "libx264", "-preset", "veryslow", "-crf", "30", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
            str(target),
        ]  # fmt: skip
        subprocess.run(command, check=True)
    log.info("wrote %s", target.relative_to(ROOT.parent))


def srt(cues: list[tuple[float, float, str]]) -> str:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    return "\n".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, start=1))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = random.Random(SEED)

    _write(ROOT / "docs" / "battery-warranty.md", BATTERY_WARRANTY_MD)
    _write(ROOT / "docs" / "installation-guide.md", INSTALLATION_GUIDE_MD)
    _write(ROOT / "docs" / "company-history.txt", COMPANY_HISTORY_TXT)
    _write(ROOT / "docs" / "product-faq.html", PRODUCT_FAQ_HTML)

    installations = bar_chart(
        INSTALLATIONS_BY_YEAR,
        title="Northwind Solar installations per year",
        xlabel="Year",
        ylabel="Systems installed",
    )
    _write(ROOT / "images" / "installations-by-year.png", _image_bytes(installations, "PNG", optimize=True))
    _write(ROOT / "images" / "red-circle.webp", _image_bytes(red_circle(), "WEBP", lossless=True))
    _write(ROOT / "images" / "wiring-diagram.png", _image_bytes(wiring_diagram(), "PNG", optimize=True))
    _write(ROOT / "images" / "sunset-over-panels.jpg", _image_bytes(sunset_over_panels(rng), "JPEG", quality=85))

    figures = {
        "country": bar_chart(
            INSTALLATIONS_2025_BY_COUNTRY,
            title="Installations in 2025 by country",
            xlabel="Country",
            ylabel="Installations",
            color="#e08a1e",
        ),
        "revenue": bar_chart(
            REVENUE_MEUR,
            title="Revenue 2021-2025 (million euros)",
            xlabel="Year",
            ylabel="Revenue (million EUR)",
            color="#1e7b34",
            value_format="{:.1f}",
        ),
    }
    _write(ROOT / "reports" / "annual-report-2025.pdf", annual_report(figures))

    maintenance_video(ROOT / "videos" / "helios-maintenance.mp4")
    _write(ROOT / "videos" / "helios-maintenance.srt", srt(VIDEO_SUBTITLES))


if __name__ == "__main__":
    main()
