"""Small evaluation datasets written offline, in the formats ``rag eval`` reads (see :mod:`rag.eval.datasets`).

* :func:`write_beir_sample` — a BEIR-format text set: 60 short documents (3 per topic, 20 topics, each far
  under MiniLM's 256-token limit) and 24 queries with graded judgements. Some queries paraphrase their
  document (dense retrieval's strength), some name a model number or code (BM25's strength). With
  ``long_docs=True`` it adds 4 documents of 400+ tokens whose answer lies past the first 256 tokens, and
  4 queries about them (what truncation would lose and chunking keeps). ``evidence.jsonl`` marks, per query,
  the sentence of its best document that answers it.
* :func:`write_visual_sample` — a visual-document set: page images (colour and printed word differ) in
  ``corpus.jsonl`` + ``images/``, queries naming the colours, one relevant page each.

``python -m rag.eval.samples OUT_DIR`` writes both (``OUT_DIR/beir-sample``, ``OUT_DIR/visual-sample``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["BEIR_DOCS", "BEIR_QUERIES", "write_beir_sample", "write_visual_sample"]

# (doc id, title, text); 20 topics x 3 documents.
BEIR_DOCS: list[tuple[str, str, str]] = [
    (
        "d01",
        "Helios battery warranty",
        "The Helios home battery is covered for twelve years or 6000 full cycles, whichever comes first.",
    ),
    (
        "d02",
        "Helios battery installation",
        "Mount the Helios battery on a load-bearing wall, away from direct sunlight, with 20 cm of free space.",
    ),
    (
        "d03",
        "Helios battery capacity",
        "Each Helios module stores 5.2 kWh; up to four modules can be stacked for 20.8 kWh.",
    ),
    (
        "d04",
        "Cleaning solar panels",
        "Rinse photovoltaic modules with soft water twice a year; avoid pressure washers and abrasive brushes.",
    ),
    (
        "d05",
        "Snow on solar panels",
        "Snow usually slides off tilted panels within a day; never climb on the roof to scrape it off.",
    ),
    (
        "d06",
        "Bird protection for panels",
        "A stainless mesh skirt around the array keeps pigeons from nesting under the modules.",
    ),
    (
        "d07",
        "Zephyr-9 inverter overview",
        "The Zephyr-9 inverter converts direct current from the roof into alternating current for the house.",
    ),
    (
        "d08",
        "Zephyr-9 error E042",
        "Error E042 on the Zephyr-9 means grid voltage out of range; the inverter retries every five minutes.",
    ),
    (
        "d09",
        "Zephyr-9 firmware",
        "Firmware for the Zephyr-9 is updated over Wi-Fi at night; version 3.4 adds export limiting.",
    ),
    (
        "d10",
        "Sourdough starter",
        "Feed a sourdough starter equal weights of flour and water every day until it doubles within six hours.",
    ),
    (
        "d11",
        "Baking sourdough bread",
        "Bake the loaf in a preheated cast-iron pot at 250 degrees, lid on for twenty minutes, then uncovered.",
    ),
    (
        "d12",
        "Storing bread",
        "Keep crusty bread in a linen bag at room temperature; the refrigerator makes it stale faster.",
    ),
    (
        "d13",
        "Tomato seedlings",
        "Sow tomato seeds indoors eight weeks before the last frost and keep them under bright light.",
    ),
    ("d14", "Watering tomatoes", "Water tomato plants deeply at the base in the morning; wet leaves invite blight."),
    (
        "d15",
        "Tomato blight",
        "Late blight shows as brown patches on leaves and fruit; remove infected plants and do not compost them.",
    ),
    (
        "d16",
        "Marathon training plan",
        "A sixteen-week marathon plan builds weekly distance slowly, with one long run every weekend.",
    ),
    (
        "d17",
        "Running shoes",
        "Replace running shoes after roughly 700 kilometres, when the midsole foam stops absorbing impact.",
    ),
    (
        "d18",
        "Hydration when running",
        "On runs longer than an hour, drink small amounts regularly and take electrolytes in hot weather.",
    ),
    (
        "d19",
        "Python virtual environments",
        "Create an isolated environment with python -m venv .venv and activate it before installing packages.",
    ),
    (
        "d20",
        "Python type hints",
        "Type hints document what a function expects; mypy checks them without running the code.",
    ),
    (
        "d21",
        "Python packaging",
        "A pyproject.toml file declares the build backend, dependencies and entry points of a package.",
    ),
    (
        "d22",
        "Espresso extraction",
        "A shot of espresso uses about 18 grams of coffee and should run for 25 to 30 seconds.",
    ),
    ("d23", "Milk frothing", "Steam milk to about 60 degrees; hotter milk loses sweetness and the foam collapses."),
    (
        "d24",
        "Descaling a coffee machine",
        "Descale the machine every two months with citric acid to remove limescale from the boiler.",
    ),
    (
        "d25",
        "Train tickets in Switzerland",
        "A half-fare travelcard halves the price of most Swiss train, bus and boat tickets for a year.",
    ),
    (
        "d26",
        "Luggage on trains",
        "Passengers may bring luggage on board free of charge; bicycles need a separate day pass.",
    ),
    (
        "d27",
        "Night trains",
        "Night trains leave Zurich for Vienna, Berlin and Amsterdam, with couchettes and private sleeper cabins.",
    ),
    ("d28", "Cat vaccinations", "Kittens get their first vaccinations at eight weeks and boosters at twelve weeks."),
    ("d29", "Cat nutrition", "Cats are obligate carnivores and need taurine, which only animal protein provides."),
    ("d30", "Litter box hygiene", "Scoop the litter box daily and replace the litter completely every two weeks."),
    (
        "d31",
        "Password managers",
        "A password manager generates a unique long password for every site and fills it in for you.",
    ),
    (
        "d32",
        "Two-factor authentication",
        "Two-factor authentication asks for a one-time code from an app in addition to the password.",
    ),
    (
        "d33",
        "Phishing emails",
        "Phishing emails imitate banks or colleagues to trick you into entering credentials on a fake site.",
    ),
    ("d34", "Lunar phases", "The Moon goes from new to full and back in about 29.5 days, the synodic month."),
    (
        "d35",
        "Solar eclipses",
        "A total solar eclipse happens when the Moon covers the Sun completely, darkening a narrow path.",
    ),
    (
        "d36",
        "Tides",
        "Tides are caused mainly by the Moon's gravity pulling on the oceans, giving two high tides a day.",
    ),
    (
        "d37",
        "Invoice INV-2291",
        "Invoice INV-2291 from Nordlicht GmbH bills 14 panels and mounting rails, due on 30 June.",
    ),
    (
        "d38",
        "Invoice payment terms",
        "Invoices are payable within thirty days; late payments incur interest of one percent per month.",
    ),
    ("d39", "Refund policy", "Unused products can be returned within 14 days for a full refund of the purchase price."),
    (
        "d40",
        "Heat pump basics",
        "A heat pump moves heat from outside air into the house, giving three to four units of heat per unit of power.",
    ),
    (
        "d41",
        "Heat pump noise",
        "Place the outdoor unit of a heat pump away from bedroom windows; modern units run at about 45 decibels.",
    ),
    (
        "d42",
        "Heat pump defrost",
        "In freezing weather the outdoor coil ices up and the heat pump briefly runs a defrost cycle.",
    ),
    (
        "d43",
        "Learning the guitar",
        "Beginners should practise chord changes slowly for ten minutes a day before trying songs.",
    ),
    ("d44", "Guitar strings", "Change guitar strings every three months, or sooner if they sound dull or feel rough."),
    ("d45", "Tuning a guitar", "Standard tuning from the lowest string is E A D G B E; a clip-on tuner makes it easy."),
    (
        "d46",
        "Meeting room booking",
        "Book meeting rooms in the calendar; rooms not checked in within ten minutes are released.",
    ),
    (
        "d47",
        "Remote work policy",
        "Employees may work from home up to three days a week after agreeing with their manager.",
    ),
    (
        "d48",
        "Expense reports",
        "Submit expense reports with receipts within one month; amounts over 500 francs need approval.",
    ),
    (
        "d49",
        "Volcano eruptions",
        "Volcanoes erupt when magma rises through cracks in the crust and pressure is released.",
    ),
    (
        "d50",
        "Earthquakes",
        "Earthquakes occur when tectonic plates slip along faults, releasing energy as seismic waves.",
    ),
    ("d51", "Tsunamis", "A tsunami is a series of ocean waves usually triggered by an undersea earthquake."),
    (
        "d52",
        "Project Kestrel kickoff",
        "Project Kestrel starts in March with a team of six and a budget of 1.2 million.",
    ),
    (
        "d53",
        "Project Kestrel risks",
        "The main risk for Kestrel is the late delivery of the sensor hardware from the supplier.",
    ),
    ("d54", "Project Kestrel milestones", "Kestrel's first prototype is due in July and the field trial in October."),
    (
        "d55",
        "Houseplant light",
        "Most houseplants prefer bright indirect light; direct summer sun scorches their leaves.",
    ),
    (
        "d56",
        "Overwatering houseplants",
        "Yellow leaves and soggy soil are signs of overwatering; let the top layer dry out between waterings.",
    ),
    ("d57", "Repotting", "Repot houseplants in spring into a pot one size larger with fresh potting mix."),
    (
        "d58",
        "Electric car charging",
        "A home wall box charges an electric car at 11 kW, filling a 60 kWh battery in about six hours.",
    ),
    (
        "d59",
        "Charging with solar",
        "Solar charging mode only charges the car with surplus power from the photovoltaic array.",
    ),
    (
        "d60",
        "Electric car range in winter",
        "Cold weather reduces electric car range by up to a third because the battery and cabin must be heated.",
    ),
]

# (query id, text, {doc id: grade})
BEIR_QUERIES: list[tuple[str, str, dict[str, int]]] = [
    ("q01", "how many years of guarantee does the home storage battery have", {"d01": 2, "d03": 1}),
    ("q02", "what should I use to wash my PV modules", {"d04": 2}),
    ("q03", "what does E042 mean", {"d08": 2, "d07": 1}),
    ("q04", "how to keep a bread starter alive", {"d10": 2}),
    ("q05", "why are my tomato leaves getting brown spots", {"d15": 2, "d14": 1}),
    ("q06", "when should I buy new trainers for jogging", {"d17": 2}),
    ("q07", "set up an isolated python install for a project", {"d19": 2}),
    ("q08", "how long should an espresso shot take", {"d22": 2}),
    ("q09", "discount card for public transport in Switzerland", {"d25": 2}),
    ("q10", "sleeper train from Zurich", {"d27": 2}),
    ("q11", "what vaccines does a young cat need", {"d28": 2}),
    ("q12", "protect my accounts beyond a password", {"d32": 2, "d31": 1}),
    ("q13", "how long is a lunar month", {"d34": 2}),
    ("q14", "INV-2291", {"d37": 2}),
    ("q15", "can I send back an item and get my money", {"d39": 2}),
    ("q16", "is a heat pump loud", {"d41": 2}),
    ("q17", "how often to restring a guitar", {"d44": 2}),
    ("q18", "how many days can I work from home", {"d47": 2}),
    ("q19", "what causes tidal waves in the ocean", {"d51": 2, "d50": 1}),
    ("q20", "Kestrel budget", {"d52": 2}),
    ("q21", "why is my plant's soil always wet and the leaves yellow", {"d56": 2}),
    ("q22", "charge the car only with surplus rooftop power", {"d59": 2, "d58": 1}),
    ("q23", "Zephyr-9 firmware version 3.4", {"d09": 2}),
    ("q24", "why does my EV lose range when it is cold", {"d60": 2}),
]

_FILLER = (
    "This section of the manual repeats general safety advice. Read all instructions before use, keep the "
    "packaging until installation is complete, and follow local regulations. Only qualified people should open "
    "the housing. Keep children and pets away from the equipment while it is being installed or serviced. "
)

# Long documents (well over 256 tokens) with generic titles: the answer sits at the end, after the filler, so a
# model that reads only the first 256 tokens cannot see it.
LONG_DOCS: list[tuple[str, str, str, str, str]] = [
    (
        "L1",
        "Owner's manual, chapter 1",
        "The Aurora anode rod must be replaced every four years to prevent tank corrosion.",
        "q25",
        "how often to change the anode of the water heater",
    ),
    (
        "L2",
        "Owner's manual, chapter 2",
        "The Borealis heat recovery filters are washed every three months in lukewarm water.",
        "q26",
        "how do I clean the ventilation unit filters",
    ),
    (
        "L3",
        "Owner's manual, chapter 3",
        "If the Cirrus shows a blinking salt light, refill the regeneration salt container.",
        "q27",
        "dishwasher salt light is flashing",
    ),
    (
        "L4",
        "Owner's manual, chapter 4",
        "The Dorado opener's remote is paired by holding the learn button for five seconds.",
        "q28",
        "pair a new remote with the garage door opener",
    ),
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_beir_sample(root: str | Path, *, long_docs: bool = False) -> Path:
    """Write the BEIR-format sample set to ``root`` (created); returns ``root``."""
    root = Path(root)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    docs = [{"_id": i, "title": t, "text": x} for i, t, x in BEIR_DOCS]
    queries = [{"_id": q, "text": t} for q, t, _ in BEIR_QUERIES]
    qrels = [(q, d, g) for q, _, rels in BEIR_QUERIES for d, g in rels.items()]
    # Each short document is one sentence: the best-graded one answers its query.
    texts = {i: x for i, _, x in BEIR_DOCS}
    evidence = [{"query-id": q, "text": texts[max(rels, key=rels.__getitem__)]} for q, _, rels in BEIR_QUERIES]
    if long_docs:
        for doc_id, title, answer, query_id, query in LONG_DOCS:
            docs.append({"_id": doc_id, "title": title, "text": _FILLER * 6 + answer})
            queries.append({"_id": query_id, "text": query})
            qrels.append((query_id, doc_id, 1))
            evidence.append({"query-id": query_id, "text": answer})
    _jsonl(root / "corpus.jsonl", docs)
    _jsonl(root / "queries.jsonl", queries)
    _jsonl(root / "evidence.jsonl", evidence)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in qrels]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


VISUAL_PAGES: list[tuple[str, str, tuple[int, int, int]]] = [
    ("p-red", "RED", (220, 30, 30)),
    ("p-green", "GREEN", (30, 180, 60)),
    ("p-blue", "BLUE", (30, 60, 220)),
    ("p-yellow", "YELLOW", (240, 220, 40)),
    ("p-black", "BLACK", (10, 10, 10)),
    ("p-white", "WHITE", (250, 250, 250)),
]


def write_visual_sample(root: str | Path, *, size: int = 64) -> Path:
    """Write the visual-document sample set: one page image per colour, a query per page."""
    from PIL import Image, ImageDraw

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    corpus: list[dict[str, str]] = []
    for doc_id, word, colour in VISUAL_PAGES:
        image = Image.new("RGB", (size, size), colour)
        ImageDraw.Draw(image).text((4, size // 2 - 6), word, fill=(128, 128, 128))
        image.save(root / "images" / f"{doc_id}.png")
        corpus.append({"_id": doc_id, "image": f"images/{doc_id}.png"})
    _jsonl(root / "corpus.jsonl", corpus)
    _jsonl(
        root / "queries.jsonl",
        [{"_id": f"v{i}", "text": f"a {w.lower()} page"} for i, (_, w, _) in enumerate(VISUAL_PAGES)],
    )
    lines = ["query-id\tcorpus-id\tscore"] + [f"v{i}\t{d}\t1" for i, (d, _, _) in enumerate(VISUAL_PAGES)]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the sample evaluation datasets.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--long-docs", action="store_true", help="add long documents to the BEIR sample")
    args = parser.parse_args(argv)
    write_beir_sample(args.out / "beir-sample", long_docs=args.long_docs)
    write_visual_sample(args.out / "visual-sample")


if __name__ == "__main__":
    main()
