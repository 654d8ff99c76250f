"""Deterministic synthetic exports in dropscore's own formats, with the suppliers' true quality.

Every supplier gets latent defect and not-received probabilities and a band (fine, borderline,
bad) written to truth.csv; order lines and disputes are drawn from those probabilities only, so
verdicts computed from the exports can be checked against the truth.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ingest.formats import DROPSCORE_DISPUTES, DROPSCORE_ORDERS

# The columns of dropscore's own formats, in their documented order.
ORDER_COLUMNS = tuple(column.name for column in DROPSCORE_ORDERS.columns)
DISPUTE_COLUMNS = tuple(column.name for column in DROPSCORE_DISPUTES.columns)
LATER_DISPUTES_FILE = "later-disputes.csv"
TRUTH_COLUMNS = ("supplier_id", "defect_probability", "not_received_probability", "band", "is_bad")

BANDS = ("fine", "borderline", "bad")
FINE, BORDERLINE, BAD = range(3)
BAND_SHARES = {BORDERLINE: 0.15, BAD: 0.15}

# Latent probability ranges per band, kept clear of the SPEC §6 thresholds (good below 2 % defect
# and 3 % not received, avoid above 5 % and 8 %) so each band has one right verdict with enough
# data: fine -> good, borderline -> watch, bad -> avoid.
DEFECT_RANGE = {FINE: (0.002, 0.012), BORDERLINE: (0.015, 0.045)}
NOT_RECEIVED_RANGE = {FINE: (0.003, 0.018), BORDERLINE: (0.02, 0.07)}
BAD_DEFECT_RANGE = (0.09, 0.22)
BAD_NOT_RECEIVED_RANGE = (0.13, 0.30)
# The dimension a bad supplier is not bad on, anywhere from fine to borderline.
BAD_OTHER_DEFECT_RANGE = (0.003, 0.045)
BAD_OTHER_NOT_RECEIVED_RANGE = (0.005, 0.07)
SELLER_CANCEL_RANGE = ((0.003, 0.015), (0.01, 0.03), (0.02, 0.08))
HANDLING_DAYS_MEAN_RANGE = ((1.5, 3.5), (2.0, 5.0), (3.0, 6.5))
BUYER_CANCEL_PROBABILITY = 0.01
SYSTEM_CANCEL_PROBABILITY = 0.004
BUYER_REMORSE_PROBABILITY = 0.003
# A defective or lost line the dropshipper buys again for the customer, so many days after the
# customer's dispute opens.
REBUY_PROBABILITY = 0.25
REBUY_DELAY_DAYS = (0.5, 4.0)

# AliExpress store ids: old stores have 7-9 digits, newer ones 10 (`1103582642`). (first, size)
STORE_ID_RANGES = (
    (10**6, 9 * 10**6),
    (10**7, 9 * 10**7),
    (10**8, 9 * 10**8),
    (1_100_000_000, 5 * 10**6),
)
STORE_ID_SHARES = (0.2, 0.2, 0.1, 0.5)
ORDERS_PER_SUPPLIER = 80
FIRST_ORDER_NUMBER = 305_000_000_000  # AliExpress's 12 digits, before the buyer's suffix
MIN_SUPPLIERS, MAX_SUPPLIERS = 20, 3000
PRODUCTS_PER_SUPPLIER = 5
SELLERS_PER_PRODUCT_SHARES = (0.4, 0.3, 0.18, 0.12)
LINES_PER_ORDER_SHARES = (0.65, 0.22, 0.09, 0.04)
QUANTITY_SHARES = (0.8, 0.13, 0.05, 0.02)
# Order volume doubles over the period, as for a growing store.
VOLUME_GROWTH = 2.0
CHUNK_ORDERS = 50_000
# Chunks drawn and waiting to be built or written while the next is drawn: bounds memory. Three
# kept both threads busy at 10M (1.22-1.26 M lines/s); two sometimes left them waiting.
CHUNKS_WAITING = 3

DAY = 86_400
# The times of disputes opened after an export, written out for the weekly exports after it,
# fall within this many days of it: more than a line's shipping, delivery and dispute take.
DAYS_PAST_EXPORT = 366
STATUSES = ("placed", "shipped", "delivered", "cancelled")
PLACED, SHIPPED, DELIVERED, CANCELLED = range(4)
CANCELLERS = ("buyer", "seller", "system")
BUYER, SELLER, SYSTEM = range(3)
# name, share, median transit days, tracking prefix, tracking digits, tracking suffix
CARRIERS = (
    ("AliExpress Standard Shipping", 0.5, 14, "LP00", 12, ""),
    ("Cainiao Super Economy Global", 0.2, 22, "LP00", 12, ""),
    ("YunExpress", 0.15, 11, "YT", 16, ""),
    ("China Post Registered Air Mail", 0.15, 25, "LX", 9, "CN"),
)
LISTING_CARRIER_SHARE = 0.85
PROMISED_DELIVERY_DAYS_RANGE = (15, 40)
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "SE")
COUNTRY_SHARES = (0.45, 0.1, 0.08, 0.07, 0.08, 0.07, 0.04, 0.04, 0.04, 0.03)

# Dispute kinds: what made the buyer open it.
DEFECT, NOT_RECEIVED, REMORSE = range(3)
# Raw reason texts from SPEC §4 with how often buyers pick them, per dispute kind.
REASONS = (
    {
        "Not as described": 12,
        "Size not as described": 8,
        "Color not as described": 5,
        "Material not as described": 3,
        "Quality problem": 15,
        "Doesn't work": 12,
        "Damaged": 10,
        "Item damaged": 6,
        "Wrong item": 10,
        "Quantity shortage": 5,
        "Empty package": 3,
        "Counterfeit": 2,
    },
    {
        "Item not received": 40,
        "Delivered but not received": 8,
        "Shipment delay": 10,
        "Still in transit": 8,
        "Tracking not updating": 10,
        "Tracking not found": 6,
        "Package returned to sender": 8,
        "Held at customs": 5,
    },
    {"Changed my mind": 60, "No longer needed": 40},
)
RESOLUTIONS = DROPSCORE_DISPUTES.column("resolution").choices
FULL_REFUND, PARTIAL_REFUND, RETURN_AND_REFUND, RESEND, REJECTED, WITHDRAWN = range(6)
RESOLUTION_WEIGHTS = (
    (30, 25, 15, 10, 12, 8),
    (55, 5, 0, 18, 12, 10),
    (0, 0, 35, 0, 45, 20),
)
# Bad suppliers fight more of their disputes.
BAD_SUPPLIER_REJECTION_FACTOR = 2.0
DISPUTE_STATUSES = ("open", "closed", "withdrawn")
RETURN_METHODS = ("none", "free_label", "own_expense")
NO_RETURN, FREE_LABEL, OWN_EXPENSE = range(3)
OWN_EXPENSE_SHARE = (0.4, 0.4, 0.8)
# A few free-label returns still cost the dropshipper something (label not honoured).
CHARGED_FREE_LABEL_SHARE = 0.05

CITIES = (
    "Shenzhen",
    "Guangzhou",
    "Yiwu",
    "Dongguan",
    "Hangzhou",
    "Ningbo",
    "Xiamen",
    "Foshan",
    "Shanghai",
    "Suzhou",
    "Quanzhou",
    "Jinhua",
    "",
)
STORE_WORDS = (
    "Bright",
    "Lucky",
    "Sunny",
    "Happy",
    "Golden",
    "Topmax",
    "Ever",
    "Star",
    "Joy",
    "Smart",
    "Fine",
    "Green",
    "Blue Ocean",
    "Rainbow",
    "Dragon",
    "Phoenix",
    "Harmony",
    "Vivid",
    "Nova",
    "Prime",
)
STORE_TRADES = (
    "Home",
    "Electronics",
    "Fashion",
    "Toys",
    "Beauty",
    "Kitchen",
    "Outdoor",
    "Pet Supplies",
    "Auto Parts",
    "Lighting",
    "Jewelry",
    "Sports",
    "Tools",
    "Baby",
    "Phone Accessories",
)
STORE_KINDS = ("Store", "Official Store", "Factory Store", "Global Store", "Trading Store")
TITLE_ADJECTIVES = (
    "Portable",
    "Mini",
    "Waterproof",
    "Wireless",
    "Foldable",
    "Magnetic",
    "Adjustable",
    "Universal",
    "Smart",
    "Vintage",
    "Luxury",
    "Ergonomic",
    "Rechargeable",
    "Stainless Steel",
    "Silicone",
    "Bamboo",
)
TITLE_ITEMS = (
    "Desk Lamp",
    "Phone Holder",
    "Bluetooth Earbuds",
    "Yoga Mat",
    "Pet Hair Remover",
    "Kitchen Scale",
    "Car Vacuum Cleaner",
    "Makeup Brush Set",
    "Night Light",
    "Shower Head",
    "Phone Case",
    "Smart Watch",
    "Water Bottle",
    "Hair Clipper",
    "Posture Corrector",
    "Jewelry Organizer",
    "Cable Organizer",
    "Garden Hose Nozzle",
    "Dog Leash",
    "Baby Bottle Warmer",
    "LED Strip Lights",
    "Storage Box",
    "Wall Clock",
    "Massage Gun",
    "Ring Light",
    "Sunglasses",
    "Backpack",
    "Car Seat Organizer",
)
TITLE_ENDINGS = (
    "",
    " 2026 New",
    " Hot Sale",
    " High Quality",
    " Set 3pcs",
    " for Women",
    " for Men",
    " for Travel",
    " with Gift Box",
)


@dataclass(frozen=True)
class GeneratedExports:
    """The written files, and how many order lines orders.csv holds."""

    orders: Path
    disputes: Path
    truth: Path
    lines: int
    # Not an export, written when asked for: the disputes its lines will have, opened after it
    # was taken, which the weekly exports after it reveal as their time comes.
    later_disputes: Path | None = None


@dataclass(frozen=True)
class _Alias:
    """Walker's alias tables: a draw from a discrete distribution is a multiply and two lookups.

    np.searchsorted on a cumulative distribution costs about 60 ns a draw at these sizes, a
    large share of the time budget. One table can hold many distributions as slices (one per
    supplier), each drawn from by passing its first slot and slot count.
    """

    keep: np.ndarray  # chance that a slot yields its own outcome
    alias: np.ndarray  # the outcome the slot yields otherwise

    @classmethod
    def build(cls, weights: Sequence[float], slice_starts: Sequence[int] = (0,)) -> _Alias:
        weights = np.asarray(weights, float)
        keep = np.ones(len(weights))
        alias = np.arange(len(weights))
        bounds = [*slice_starts, len(weights)]
        for start, stop in itertools.pairwise(bounds):
            scaled = (weights[start:stop] * (stop - start) / weights[start:stop].sum()).tolist()
            small = [i for i, weight in enumerate(scaled) if weight < 1.0]
            large = [i for i, weight in enumerate(scaled) if weight >= 1.0]
            while small and large:
                short, tall = small.pop(), large.pop()
                keep[start + short] = scaled[short]
                alias[start + short] = start + tall
                scaled[tall] -= 1.0 - scaled[short]
                (small if scaled[tall] < 1.0 else large).append(tall)
        return cls(keep, alias)

    def draw(
        self,
        uniform: np.ndarray,
        first: np.ndarray | int = 0,
        count: np.ndarray | int | None = None,
    ) -> np.ndarray:
        count = len(self.keep) if count is None else count
        scaled = uniform * count
        slot = np.minimum(scaled.astype(np.int64), np.subtract(count, 1))
        remainder = scaled - slot
        slot += first
        return np.where(remainder < self.keep[slot], slot, self.alias[slot])


# Columns the CSV writer would format per line are taken from text made once per supplier,
# listing or value instead: Arrow formats an int64 or decimal about 3 times slower than it copies
# a short string, and the writer thread is what limits throughput.


@dataclass(frozen=True)
class _Suppliers:
    ids: np.ndarray
    id_texts: pa.Array
    names: pa.Array
    band: np.ndarray
    defect_probability: np.ndarray
    not_received_probability: np.ndarray
    seller_cancel_probability: np.ndarray
    handling_days_mean: np.ndarray
    volume: np.ndarray
    volume_alias: _Alias


@dataclass(frozen=True)
class _Catalog:
    product_id_texts: pa.Array
    product_titles: pa.Array
    # A product's SKUs are sku_count consecutive entries of sku_id_texts from sku_first.
    sku_id_texts: pa.Array
    sku_first: np.ndarray
    sku_count: np.ndarray
    listing_product: np.ndarray
    listing_unit_price_cents: np.ndarray
    listing_unit_price_texts: pa.Array
    listing_shipping_fee_cents: np.ndarray
    listing_shipping_fee_texts: pa.Array
    listing_promised_ship_days: np.ndarray
    listing_carrier: np.ndarray
    # Delivery promise as a multiple of the carrier's median transit time.
    listing_promise_margin: np.ndarray
    # Listings are sorted by supplier; each supplier's popularity is one slice of the alias table.
    listing_popularity: _Alias
    supplier_first_listing: np.ndarray
    supplier_listing_count: np.ndarray

    def pick_listings(self, supplier: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        return self.listing_popularity.draw(
            uniform, self.supplier_first_listing[supplier], self.supplier_listing_count[supplier]
        )


class _TimestampText:
    """ISO 8601 `YYYY-MM-DDTHH:MM:SSZ` strings from epoch seconds via lookup tables.

    Arrow's strftime manages about 1.3 M values/s, too slow for 1 M lines/s with several
    timestamps a line. Each 20-byte text is instead three table lookups stored as 8 + 8 + 4-byte
    words: `YYYY-MM-` by day, `DDTHH:MM` by day of month and minute, `:SSZ` by second.
    """

    LAYOUT = np.dtype([("year_month", "<u8"), ("day_hour_minute", "<u8"), ("second", "<u4")])

    def __init__(self, first_day: int, last_day: int) -> None:
        days = np.arange(first_day, last_day + 1).astype("datetime64[D]").astype(str).tolist()
        self.first_day = first_day
        self.year_month = _word_table([day[:8] for day in days], "<u8")
        self.day_of_month = np.array([int(day[8:]) for day in days])
        self.day_hour_minute = _word_table(
            [
                f"{day:02d}T{minute // 60:02d}:{minute % 60:02d}"
                for day in range(32)
                for minute in range(1440)
            ],
            "<u8",
        )
        self.second = _word_table([f":{second:02d}Z" for second in range(60)], "<u4")

    def __call__(self, seconds: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
        if present is not None:
            seconds = np.where(present, seconds, self.first_day * DAY)
        day, second_of_day = np.divmod(seconds, DAY)
        day -= self.first_day
        minute_of_day, second = np.divmod(second_of_day, 60)
        text = np.empty(len(seconds), self.LAYOUT)
        text["year_month"] = self.year_month[day]
        text["day_hour_minute"] = self.day_hour_minute[
            self.day_of_month[day] * 1440 + minute_of_day
        ]
        text["second"] = self.second[second]
        width = self.LAYOUT.itemsize
        offsets = np.arange(0, width * len(seconds) + 1, width, dtype=np.int32)
        return pa.StringArray.from_buffers(
            len(seconds), pa.py_buffer(offsets), pa.py_buffer(text), _validity(present)
        )


def _word_table(texts: list[str], word: str) -> np.ndarray:
    """Equal-length ASCII texts as machine words holding their bytes."""
    return np.frombuffer("".join(texts).encode(), word)


def _validity(present: np.ndarray | None) -> pa.Buffer | None:
    if present is None:
        return None
    return pa.py_buffer(np.packbits(present, bitorder="little"))


def _texts(labels: Sequence[str], codes: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    return _take(pa.array(labels), codes, present)


def _repeated(text: str, count: int) -> pa.Array:
    return pa.array([text]).take(np.zeros(count, np.int32))


def _money(cents: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """Exact two-decimal values: decimal128 built from integer cents (low and sign words)."""
    words = np.empty((len(cents), 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(
        pa.decimal128(12, 2), len(cents), [_validity(present), pa.py_buffer(words)]
    )


def _ints(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, pa.int64(), mask=None if present is None else ~present)


def _take(texts: pa.Array, indices: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    return texts.take(pa.array(indices, mask=None if present is None else ~present))


SMALL_NUMBER_TEXTS = pa.array([str(number) for number in range(100)])


def _draw_categories(rng: np.random.Generator, shares: Sequence[float], size: int) -> np.ndarray:
    return _Alias.build(shares).draw(rng.random(size))


def _uniform_in(
    rng: np.random.Generator, ranges: Sequence[tuple[float, float]], which: np.ndarray
) -> np.ndarray:
    low, high = np.asarray(ranges).T
    return low[which] + rng.random(len(which)) * (high - low)[which]


def _unique_ids(rng: np.random.Generator, base: int, count: int, max_gap: int) -> np.ndarray:
    """Distinct increasing ids with random gaps, in random order."""
    return rng.permutation(base + np.cumsum(rng.integers(1, max_gap, count)))


def _order_id_gap(orders: int) -> int:
    """How far apart consecutive order numbers are: as far as 12 digits allow, with room for
    the order's lines and for buying one of them again."""
    return max(len(LINES_PER_ORDER_SHARES) + 4, min(50_000, 600_000_000_000 // orders))


def _chunk_lines(orders: int) -> int:
    """The most lines a chunk of these orders can hold: every line, and one bought again."""
    return min(orders, CHUNK_ORDERS) * (len(LINES_PER_ORDER_SHARES) + 1)


def _supplier_count(orders: int) -> int:
    return int(np.clip(round(orders / ORDERS_PER_SUPPLIER), MIN_SUPPLIERS, MAX_SUPPLIERS))


def _draw_suppliers(rng: np.random.Generator, count: int) -> _Suppliers:
    # Bands by exact counts in random order: the mix is stable and independent of volume.
    counts = {band: max(1, round(share * count)) for band, share in BAND_SHARES.items()}
    band = rng.permutation(
        np.repeat([FINE, BORDERLINE, BAD], [count - sum(counts.values()), *counts.values()])
    )
    defect = np.zeros(count)
    not_received = np.zeros(count)
    for which in (FINE, BORDERLINE):
        mask = band == which
        defect[mask] = rng.uniform(*DEFECT_RANGE[which], mask.sum())
        not_received[mask] = rng.uniform(*NOT_RECEIVED_RANGE[which], mask.sum())
    bad = np.flatnonzero(band == BAD)
    bad_on = rng.integers(0, 3, len(bad))  # 0: defects, 1: not received, 2: both
    bad_defect = np.isin(bad_on, (0, 2))
    bad_not_received = np.isin(bad_on, (1, 2))
    defect[bad] = np.where(
        bad_defect,
        rng.uniform(*BAD_DEFECT_RANGE, len(bad)),
        rng.uniform(*BAD_OTHER_DEFECT_RANGE, len(bad)),
    )
    not_received[bad] = np.where(
        bad_not_received,
        rng.uniform(*BAD_NOT_RECEIVED_RANGE, len(bad)),
        rng.uniform(*BAD_OTHER_NOT_RECEIVED_RANGE, len(bad)),
    )

    id_range = _draw_categories(rng, STORE_ID_SHARES, count)
    ids = np.empty(count, np.int64)
    for which, (first, size) in enumerate(STORE_ID_RANGES):
        mask = id_range == which
        ids[mask] = first + rng.choice(size, mask.sum(), replace=False)

    combinations = len(CITIES) * len(STORE_WORDS) * len(STORE_TRADES) * len(STORE_KINDS)
    names = []
    for combination in rng.choice(combinations, count, replace=False).tolist():
        combination, kind = divmod(combination, len(STORE_KINDS))
        combination, trade = divmod(combination, len(STORE_TRADES))
        city, word = divmod(combination, len(STORE_WORDS))
        parts = (CITIES[city], STORE_WORDS[word], STORE_TRADES[trade], STORE_KINDS[kind])
        names.append(" ".join(part for part in parts if part))

    # Lognormal volume: a few large suppliers, a long tail of small ones.
    volume = rng.lognormal(0.0, 1.3, count)
    return _Suppliers(
        ids=ids,
        id_texts=pa.array(ids).cast(pa.string()),
        names=pa.array(names),
        band=band,
        defect_probability=defect.round(4),
        not_received_probability=not_received.round(4),
        seller_cancel_probability=_uniform_in(rng, SELLER_CANCEL_RANGE, band),
        handling_days_mean=_uniform_in(rng, HANDLING_DAYS_MEAN_RANGE, band),
        volume=volume / volume.sum(),
        volume_alias=_Alias.build(volume),
    )


def _draw_catalog(rng: np.random.Generator, suppliers: _Suppliers) -> _Catalog:
    supplier_total = len(suppliers.ids)
    product_total = supplier_total * PRODUCTS_PER_SUPPLIER
    # Larger stores list more products: sellers drawn by the square root of volume.
    seller_weights = np.sqrt(suppliers.volume) / np.sqrt(suppliers.volume).sum()
    most = len(SELLERS_PER_PRODUCT_SHARES)
    sellers_wanted = 1 + _draw_categories(rng, SELLERS_PER_PRODUCT_SHARES, product_total)
    candidates = rng.choice(supplier_total, size=(product_total, most), p=seller_weights)
    keep = np.arange(most) < sellers_wanted[:, None]
    for column in range(1, most):
        keep[:, column] &= (candidates[:, column, None] != candidates[:, :column]).all(axis=1)
    listing_product, column = np.nonzero(keep)
    listing_supplier = candidates[listing_product, column]
    # Every supplier sells something: the unlucky ones get a product of their own.
    unlisted = np.setdiff1d(np.arange(supplier_total), listing_supplier)
    listing_product = np.concatenate([listing_product, product_total + np.arange(len(unlisted))])
    listing_supplier = np.concatenate([listing_supplier, unlisted])
    product_total += len(unlisted)
    by_supplier = np.lexsort((listing_product, listing_supplier))
    listing_product = listing_product[by_supplier]
    listing_supplier = listing_supplier[by_supplier]
    listing_total = len(listing_product)

    titles = [
        f"{TITLE_ADJECTIVES[a]} {TITLE_ITEMS[i]}{TITLE_ENDINGS[e]}"
        for a, i, e in zip(
            rng.integers(0, len(TITLE_ADJECTIVES), product_total).tolist(),
            rng.integers(0, len(TITLE_ITEMS), product_total).tolist(),
            rng.integers(0, len(TITLE_ENDINGS), product_total).tolist(),
            strict=True,
        )
    ]
    sku_count = rng.integers(1, 6, product_total)
    sku_ids = _unique_ids(rng, 12_000_040_000_000_000, sku_count.sum(), 80_000_000)
    base_price = np.clip(rng.lognormal(np.log(8.0), 0.7, product_total), 1.0, 60.0)
    price = base_price[listing_product] * rng.uniform(0.85, 1.2, listing_total)
    unit_price = np.clip(np.round(price * 100), 100, 6000).astype(np.int64)
    free_shipping = rng.random(listing_total) < 0.6
    shipping_fee = np.where(free_shipping, 0, rng.integers(50, 600, listing_total))
    popularity = rng.lognormal(0.0, 1.0, product_total)[listing_product] * rng.lognormal(
        0.0, 0.4, listing_total
    )
    first_listing = np.searchsorted(listing_supplier, np.arange(supplier_total), side="left")
    return _Catalog(
        product_id_texts=pa.array(
            _unique_ids(rng, 1_005_001_000_000_000, product_total, 400_000_000)
        ).cast(pa.string()),
        product_titles=pa.array(titles),
        sku_id_texts=pa.array(sku_ids).cast(pa.string()),
        sku_first=np.cumsum(sku_count) - sku_count,
        sku_count=sku_count,
        listing_product=listing_product,
        listing_unit_price_cents=unit_price,
        listing_unit_price_texts=_money(unit_price).cast(pa.string()),
        listing_shipping_fee_cents=shipping_fee,
        listing_shipping_fee_texts=_money(shipping_fee).cast(pa.string()),
        listing_promised_ship_days=rng.integers(3, 8, listing_total),
        listing_carrier=_draw_categories(rng, [c[1] for c in CARRIERS], listing_total),
        listing_promise_margin=rng.uniform(1.2, 2.0, listing_total),
        listing_popularity=_Alias.build(popularity, first_listing.tolist()),
        supplier_first_listing=first_listing,
        supplier_listing_count=np.bincount(listing_supplier, minlength=supplier_total),
    )


@dataclass(frozen=True)
class _Run:
    """What every chunk needs besides its random draws."""

    suppliers: _Suppliers
    catalog: _Catalog
    order_total: int
    start: int
    end: int
    timestamps: _TimestampText
    # Constant columns, built once as long as the largest chunk and sliced per chunk.
    exported_at: pa.Array
    currency: pa.Array
    buyer_suffix: int
    order_id_gap: int
    first_store_order: int  # the number of the first order's store order, `#1001`
    # Seeds the draws of the disputes opened after the export (None: not drawn), with the
    # chunk: apart from the one generator, so that the export is the same either way.
    later_seed: tuple[int, int] | None


class _Chunk(NamedTuple):
    """A chunk's random draws, made in order from the one generator, and what builds its tables
    (order lines, disputes, and the disputes opened after the export when they are drawn) from
    them on another thread. The builders must never draw: their draws would interleave with the
    next chunk's, and the files would differ run to run."""

    line_total: int
    tables: Callable[[], tuple[pa.Table, ...]]


class _Fates(NamedTuple):
    """What becomes of each line: its timeline, status and how it fails."""

    shipped_at: np.ndarray
    delivered_at: np.ndarray
    carrier: np.ndarray
    promised_delivery_days: np.ndarray
    canceller: np.ndarray
    status: np.ndarray
    is_cancelled: np.ndarray
    is_shipped: np.ndarray
    is_delivered: np.ndarray
    dispute_kind: np.ndarray  # DEFECT, NOT_RECEIVED, REMORSE, or -1: no dispute
    dispute_opened_at: np.ndarray  # 0 where there is no dispute

    def take(self, which: np.ndarray) -> _Fates:
        return _Fates(*(field[which] for field in self))

    @staticmethod
    def joined(first: _Fates, second: _Fates) -> _Fates:
        return _Fates(*(np.concatenate(pair) for pair in zip(first, second, strict=True)))


class _Rebuys(NamedTuple):
    """Failed lines bought again: what the purchase is and what becomes of it."""

    ordered_at: np.ndarray
    store_order_index: np.ndarray
    country: np.ndarray
    supplier: np.ndarray
    listing: np.ndarray
    sku: np.ndarray
    quantity: np.ndarray
    fates: _Fates

    def take(self, which: np.ndarray) -> _Rebuys:
        return _Rebuys(*(part[which] for part in self[:-1]), self.fates.take(which))

    @staticmethod
    def joined(first: _Rebuys, second: _Rebuys) -> _Rebuys:
        return _Rebuys(
            *(np.concatenate(pair) for pair in zip(first[:-1], second[:-1], strict=True)),
            _Fates.joined(first.fates, second.fates),
        )


def _draw_fates(
    rng: np.random.Generator,
    run: _Run,
    supplier: np.ndarray,
    listing: np.ndarray,
    ordered: np.ndarray,
) -> _Fates:
    suppliers, catalog, end = run.suppliers, run.catalog, run.end
    line_total = len(supplier)
    promised_ship_days = catalog.listing_promised_ship_days[listing]
    handling_mean = suppliers.handling_days_mean[supplier]
    handling = np.clip(rng.gamma(3.0, handling_mean / 3.0), 1.0, 10.0) * DAY
    shipped_at = ordered + handling.astype(np.int64)
    # A listing ships with its usual carrier unless the buyer picked another at checkout.
    carrier = np.where(
        rng.random(line_total) < LISTING_CARRIER_SHARE,
        catalog.listing_carrier[listing],
        _draw_categories(rng, [c[1] for c in CARRIERS], line_total),
    )
    transit_median = np.array([c[2] for c in CARRIERS])[carrier]
    promised_delivery_days = np.clip(
        promised_ship_days + np.round(catalog.listing_promise_margin[listing] * transit_median),
        *PROMISED_DELIVERY_DAYS_RANGE,
    ).astype(np.int64)
    transit = np.clip(transit_median * rng.lognormal(0.0, 0.35, line_total), 7.0, 45.0) * DAY
    delivered_at = shipped_at + transit.astype(np.int64)

    # One uniform per outcome family makes the outcomes exclusive with exact probabilities.
    seller_cancel = suppliers.seller_cancel_probability[supplier]
    cancel_draw = rng.random(line_total)
    canceller = np.select(
        [
            cancel_draw < seller_cancel,
            cancel_draw < seller_cancel + BUYER_CANCEL_PROBABILITY,
            cancel_draw < seller_cancel + BUYER_CANCEL_PROBABILITY + SYSTEM_CANCEL_PROBABILITY,
        ],
        [SELLER, BUYER, SYSTEM],
        -1,
    )
    will_cancel = canceller >= 0
    cancel_at = ordered + (rng.uniform(0.05, 1.0, line_total) * np.minimum(handling, 3 * DAY))
    not_received_p = suppliers.not_received_probability[supplier]
    defect_p = suppliers.defect_probability[supplier]
    outcome_draw = rng.random(line_total)
    not_received = ~will_cancel & (outcome_draw < not_received_p)
    defect = ~will_cancel & ~not_received & (outcome_draw < not_received_p + defect_p)
    remorse = (
        ~will_cancel
        & ~not_received
        & ~defect
        & (outcome_draw < not_received_p + defect_p + BUYER_REMORSE_PROBABILITY)
    )

    # The export is a snapshot at `end`: later events have not happened yet.
    is_cancelled = will_cancel & (cancel_at <= end)
    is_shipped = ~will_cancel & (shipped_at <= end)
    is_delivered = is_shipped & ~not_received & (delivered_at <= end)
    status = np.select(
        [is_cancelled, is_delivered, is_shipped], [CANCELLED, DELIVERED, SHIPPED], PLACED
    )

    dispute_kind = np.select([defect, not_received, remorse], [DEFECT, NOT_RECEIVED, REMORSE], -1)
    disputed = np.flatnonzero(dispute_kind >= 0)
    kind = dispute_kind[disputed]
    # Not-received disputes wait for the promised delivery date; the others follow delivery.
    dispute_opened_at = np.zeros(line_total, np.int64)
    dispute_opened_at[disputed] = np.where(
        kind == NOT_RECEIVED,
        ordered[disputed] + promised_delivery_days[disputed] * DAY,
        delivered_at[disputed],
    ) + (rng.uniform(0, np.where(kind == REMORSE, 10, 15)) * DAY).astype(np.int64)
    return _Fates(
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        carrier=carrier,
        promised_delivery_days=promised_delivery_days,
        canceller=canceller,
        status=status,
        is_cancelled=is_cancelled,
        is_shipped=is_shipped,
        is_delivered=is_delivered,
        dispute_kind=dispute_kind,
        dispute_opened_at=dispute_opened_at,
    )


def _draw_chunk(
    rng: np.random.Generator,
    run: _Run,
    first_order: int,
    end_order: int,
    first_line: int,
    waiting: _Rebuys | None = None,
) -> tuple[_Chunk, _Rebuys | None]:
    """A chunk of orders, with the purchases again (drawn here or waiting from an earlier chunk)
    whose time its orders reach; and those still waiting."""
    suppliers, catalog, end = run.suppliers, run.catalog, run.end
    order_count = end_order - first_order
    order_index = np.arange(first_order, end_order)
    # Order i sits at quantile i/N of an exponentially growing volume; ids follow time.
    quantile = (order_index + rng.random(order_count)) / run.order_total
    growth = np.log1p(quantile * (VOLUME_GROWTH - 1)) / np.log(VOLUME_GROWTH)
    ordered_at = run.start + (growth * (end - run.start)).astype(np.int64)
    order_supplier = suppliers.volume_alias.draw(rng.random(order_count))
    # AliExpress order ids: 12 increasing digits then the buyer's 4-digit suffix; the lines
    # (child orders) take the next numbers, hence gaps between orders. The last two numbers
    # of an order's block are kept for a purchase again placed just after it.
    block_start = FIRST_ORDER_NUMBER + order_index * run.order_id_gap
    order_number = block_start + rng.integers(
        0, run.order_id_gap - len(LINES_PER_ORDER_SHARES) - 2, order_count
    )
    order_country = _draw_categories(rng, COUNTRY_SHARES, order_count)
    line_count = 1 + _draw_categories(rng, LINES_PER_ORDER_SHARES, order_count)

    order_of_line = np.repeat(np.arange(order_count), line_count)
    order_first_line = np.cumsum(line_count) - line_count
    line_number = np.arange(len(order_of_line)) - order_first_line[order_of_line]
    supplier = order_supplier[order_of_line]
    listing = catalog.pick_listings(supplier, rng.random(len(order_of_line)))
    product = catalog.listing_product[listing]
    sku = catalog.sku_first[product] + (
        rng.random(len(order_of_line)) * catalog.sku_count[product]
    ).astype(np.int64)
    quantity = 1 + _draw_categories(rng, QUANTITY_SHARES, len(order_of_line))
    fates = _draw_fates(rng, run, supplier, listing, ordered_at[order_of_line])
    line_id_number = order_number[order_of_line] + 1 + line_number

    # The dropshipper buys some failed lines again, from the same listing for the same store
    # order, once the customer complains: one purchase of one line, at most one per order.
    failed = np.flatnonzero(np.isin(fates.dispute_kind, (DEFECT, NOT_RECEIVED)))
    failed = failed[rng.random(len(failed)) < REBUY_PROBABILITY]
    failed = failed[np.unique(order_of_line[failed], return_index=True)[1]]
    rebought_at = fates.dispute_opened_at[failed] + (
        rng.uniform(*REBUY_DELAY_DAYS, len(failed)) * DAY
    ).astype(np.int64)
    visible = rebought_at <= end
    failed, rebought_at = failed[visible], rebought_at[visible]
    drawn = _Rebuys(
        ordered_at=rebought_at,
        store_order_index=order_index[order_of_line[failed]],
        country=order_country[order_of_line[failed]],
        supplier=supplier[failed],
        listing=listing[failed],
        sku=sku[failed],
        quantity=quantity[failed],
        fates=_draw_fates(rng, run, supplier[failed], listing[failed], rebought_at),
    )
    waiting = drawn if waiting is None else _Rebuys.joined(waiting, drawn)

    # Placed among this chunk's orders when their time has come, each numbered from the two
    # numbers kept after the order placed just before it (or the next free), as AliExpress
    # numbers follow time; the rest wait for a later chunk. The last chunk places what it can.
    waiting = waiting.take(np.argsort(waiting.ordered_at, kind="stable"))
    after = np.searchsorted(ordered_at, waiting.ordered_at, side="right") - 1
    slot = np.maximum(after, 0)
    slot = np.maximum.accumulate(slot - np.arange(len(slot))) + np.arange(len(slot))
    is_last = end_order == run.order_total
    placed = (slot < order_count) & (is_last | (waiting.ordered_at <= ordered_at[-1]))
    rebuys, waiting = waiting.take(placed), (None if is_last else waiting.take(~placed))
    rebuy_count = len(rebuys.ordered_at)
    rebuy_number = block_start[slot[placed]] + run.order_id_gap - 2

    fates = _Fates.joined(fates, rebuys.fates)
    ordered_at = np.concatenate([ordered_at, rebuys.ordered_at])
    order_number = np.concatenate([order_number, rebuy_number])
    store_order_index = np.concatenate([order_index, rebuys.store_order_index])
    order_country = np.concatenate([order_country, rebuys.country])
    order_first_line = np.concatenate(
        [order_first_line, len(order_of_line) + np.arange(rebuy_count)]
    )
    line_count = np.concatenate([line_count, np.ones(rebuy_count, np.int64)])
    order_of_line = np.concatenate([order_of_line, order_count + np.arange(rebuy_count)])
    line_id_number = np.concatenate([line_id_number, rebuy_number + 1])
    supplier, listing, sku, quantity = (
        np.concatenate([values, more])
        for values, more in (
            (supplier, rebuys.supplier),
            (listing, rebuys.listing),
            (sku, rebuys.sku),
            (quantity, rebuys.quantity),
        )
    )
    product = catalog.listing_product[listing]
    line_total = len(order_of_line)

    line_index = first_line + np.arange(line_total)
    tracking_digits = np.array([c[4] for c in CARRIERS])[fates.carrier]
    tracking_number = 10 ** (tracking_digits - 1) + line_index * 7 + rng.integers(0, 7, line_total)

    order_id = order_number * 10_000 + run.buyer_suffix
    line_id = line_id_number * 10_000 + run.buyer_suffix
    supplier_order_id = order_id[order_of_line]

    def lines_table() -> pa.Table:
        carrier, is_shipped = fates.carrier, fates.is_shipped
        tracking = pc.binary_join_element_wise(
            _texts([c[3] for c in CARRIERS], carrier, is_shipped),
            pa.array(tracking_number).cast(pa.string()),
            _texts([c[5] for c in CARRIERS], carrier),
            "",
        )
        store_order = pc.binary_join_element_wise(
            "#", pa.array(run.first_store_order + store_order_index).cast(pa.string()), ""
        ).take(order_of_line)
        return pa.table(
            [
                supplier_order_id,
                line_id,
                run.timestamps(ordered_at).take(order_of_line),
                suppliers.id_texts.take(supplier),
                suppliers.names.take(supplier),
                catalog.product_id_texts.take(product),
                catalog.sku_id_texts.take(sku),
                catalog.product_titles.take(product),
                SMALL_NUMBER_TEXTS.take(quantity),
                catalog.listing_unit_price_texts.take(listing),
                run.currency[:line_total],
                catalog.listing_shipping_fee_texts.take(listing),
                _texts(STATUSES, fates.status),
                _texts(CANCELLERS, fates.canceller, fates.is_cancelled),
                run.timestamps(fates.shipped_at, is_shipped),
                run.timestamps(fates.delivered_at, fates.is_delivered),
                SMALL_NUMBER_TEXTS.take(catalog.listing_promised_ship_days[listing]),
                SMALL_NUMBER_TEXTS.take(fates.promised_delivery_days),
                tracking,
                _texts([c[0] for c in CARRIERS], carrier, is_shipped),
                _texts(COUNTRIES, order_country[order_of_line]),
                store_order,
                run.exported_at[:line_total],
            ],
            names=ORDER_COLUMNS,
        )

    value_cents = (
        quantity * catalog.listing_unit_price_cents[listing]
        + catalog.listing_shipping_fee_cents[listing]
    )

    def disputes(rng: np.random.Generator, opened: np.ndarray) -> Callable[[], pa.Table]:
        disputed = np.flatnonzero((fates.dispute_kind >= 0) & opened)
        return _draw_disputes(
            rng,
            run,
            line=disputed,
            kind=fates.dispute_kind[disputed],
            opened_at=fates.dispute_opened_at[disputed],
            is_bad_supplier=suppliers.band[supplier[disputed]] == BAD,
            value_cents=value_cents[disputed],
            line_index=line_index[disputed],
            order_id=supplier_order_id,
            line_id=line_id,
            product_id_texts=catalog.product_id_texts,
            product=product,
            order_of_line=order_of_line,
            order_first_line=order_first_line,
            line_count=line_count,
        )

    tables = [lines_table, disputes(rng, fates.dispute_opened_at <= end)]
    if run.later_seed is not None:
        # + 1: a seed sequence ending in 0 is the one without it, the main generator's
        later_rng = np.random.default_rng([*run.later_seed, first_order + 1])
        tables.append(disputes(later_rng, fates.dispute_opened_at > end))
    return _Chunk(line_total, lambda: tuple(table() for table in tables)), waiting


def _draw_outcomes(
    rng: np.random.Generator,
    weights: np.ndarray,
    kind: np.ndarray,
    is_closed: np.ndarray,
    value_cents: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """How each dispute ends: resolution (drawn from its row of `weights`), status, refund,
    return method and the return shipping the dropshipper paid, in cents."""
    count = len(kind)
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    resolution = np.minimum((rng.random(count)[:, None] >= cdf).sum(axis=1), len(RESOLUTIONS) - 1)
    status = np.where(is_closed, np.where(resolution == WITHDRAWN, 2, 1), 0)
    refund_share = np.select(
        [np.isin(resolution, (FULL_REFUND, RETURN_AND_REFUND)), resolution == PARTIAL_REFUND],
        [1.0, rng.uniform(0.2, 0.7, count)],
        0.0,
    )
    refund_cents = np.round(value_cents * refund_share).astype(np.int64)
    own_expense = rng.random(count) < np.array(OWN_EXPENSE_SHARE)[kind]
    return_method = np.where(
        resolution == RETURN_AND_REFUND, np.where(own_expense, OWN_EXPENSE, FREE_LABEL), NO_RETURN
    )
    charged = (return_method == OWN_EXPENSE) | (
        (return_method == FREE_LABEL) & (rng.random(count) < CHARGED_FREE_LABEL_SHARE)
    )
    return_cost_cents = np.where(charged, rng.integers(300, 2500, count), 0)
    return resolution, status, refund_cents, return_method, return_cost_cents


def _draw_disputes(
    rng: np.random.Generator,
    run: _Run,
    *,
    line: np.ndarray,
    kind: np.ndarray,
    opened_at: np.ndarray,
    is_bad_supplier: np.ndarray,
    value_cents: np.ndarray,
    line_index: np.ndarray,
    order_id: np.ndarray,
    line_id: np.ndarray,
    product_id_texts: pa.Array,
    product: np.ndarray,
    order_of_line: np.ndarray,
    order_first_line: np.ndarray,
    line_count: np.ndarray,
) -> Callable[[], pa.Table]:
    """The disputes' draws; returns what builds their table."""
    count = len(line)
    closed_at = opened_at + (np.clip(rng.gamma(2.0, 3.5, count) + 1.0, 1.0, 30.0) * DAY).astype(
        np.int64
    )
    is_closed = closed_at <= run.end

    weights = np.array(RESOLUTION_WEIGHTS, float)[kind]
    weights[:, REJECTED] *= np.where(is_bad_supplier, BAD_SUPPLIER_REJECTION_FACTOR, 1.0)
    resolution, status, refund_cents, return_method, return_cost_cents = _draw_outcomes(
        rng, weights, kind, is_closed, value_cents
    )
    has_return = is_closed & (return_method != NO_RETURN)

    # Most buyers name the line; some only the product or nothing (the whole order). Those two
    # are used only where they still point at exactly this line, so the truth stays exact.
    order = order_of_line[line]
    first, lines_in_order = order_first_line[order], line_count[order]
    same_product = sum(
        (k < lines_in_order) & (product[np.minimum(first + k, len(product) - 1)] == product[line])
        for k in range(len(LINES_PER_ORDER_SHARES))
    )
    reference = rng.random(count)
    names_nothing = (reference < 0.05) & (lines_in_order == 1)
    names_product_only = ~names_nothing & (reference < 0.15) & (same_product == 1)
    names_line = ~names_nothing & ~names_product_only

    reason_texts = [text for reasons in REASONS for text in reasons]
    reason = np.empty(count, np.int64)
    offset = 0
    for which, reasons in enumerate(REASONS):
        mask = kind == which
        reason[mask] = offset + _draw_categories(rng, list(reasons.values()), mask.sum())
        offset += len(reasons)
    dispute_id = 5_010_000_000_000_000 + line_index * 10 + rng.integers(0, 10, count)

    return lambda: pa.table(
        [
            dispute_id,
            order_id[line],
            _ints(line_id[line], names_line),
            _take(product_id_texts, product[line], ~names_nothing),
            run.timestamps(opened_at),
            run.timestamps(closed_at, is_closed),
            _texts(reason_texts, reason),
            _texts(DISPUTE_STATUSES, status),
            _texts(RESOLUTIONS, resolution, is_closed),
            _money(refund_cents, is_closed),
            run.currency[:count],
            _texts(RETURN_METHODS, return_method, is_closed),
            _money(return_cost_cents, has_return),
            run.exported_at[:count],
        ],
        names=DISPUTE_COLUMNS,
    )


class _CsvFile:
    """A plain CSV: bare header, quotes never needed since generated text has no commas."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.sink = pa.OSFile(str(path), "wb")
        self.sink.write(",".join(columns).encode() + b"\n")
        self.writer: pa_csv.CSVWriter | None = None

    def __enter__(self) -> _CsvFile:
        return self

    def __exit__(self, *exception: object) -> None:
        if self.writer is not None:
            self.writer.close()
        self.sink.close()

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
            self.writer = pa_csv.CSVWriter(self.sink, table.schema, write_options=options)
        self.writer.write_table(table)


def _write_truth(path: Path, suppliers: _Suppliers) -> None:
    order = np.argsort(suppliers.ids)
    table = pa.table(
        [
            suppliers.ids[order],
            suppliers.defect_probability[order],
            suppliers.not_received_probability[order],
            _texts(BANDS, suppliers.band[order]),
            suppliers.band[order] == BAD,
        ],
        names=TRUTH_COLUMNS,
    )
    with _CsvFile(path, TRUTH_COLUMNS) as output:
        output.write(table)


def generate(
    out_dir: Path,
    *,
    orders: int = 20_000,
    weeks: int = 52,
    seed: int = 42,
    end_date: date = date(2026, 11, 22),
    progress: Callable[[int, int], None] | None = None,
    later_disputes: bool = False,
) -> GeneratedExports:
    """Write orders.csv, disputes.csv and truth.csv for `orders` supplier orders into out_dir.

    Orders are spread over the `weeks` weeks ending at `end_date`, and the export is taken at
    end_date 23:59:59Z. The same arguments always give byte-identical files. `later_disputes`
    also writes the disputes opened after the export into later-disputes.csv, for
    `generate_week`; the export is the same.
    """
    if orders < 1 or weeks < 1:
        raise ValueError("orders and weeks must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suppliers = _draw_suppliers(rng, _supplier_count(orders))
    catalog = _draw_catalog(rng, suppliers)
    end_of_export = datetime.combine(end_date, time(23, 59, 59), UTC)
    end = int(end_of_export.timestamp())
    start = end + 1 - weeks * 7 * DAY
    chunk_lines = _chunk_lines(orders)
    run = _Run(
        suppliers=suppliers,
        catalog=catalog,
        order_total=orders,
        start=start,
        end=end,
        timestamps=_TimestampText(start // DAY, end // DAY + DAYS_PAST_EXPORT),
        exported_at=_repeated(end_of_export.strftime("%Y-%m-%dT%H:%M:%SZ"), chunk_lines),
        currency=_repeated("USD", chunk_lines),
        buyer_suffix=int(rng.integers(1000, 10_000)),
        # 12-digit order numbers: spread orders as far apart as fits, keeping room for lines.
        order_id_gap=_order_id_gap(orders),
        first_store_order=1001,
        later_seed=(seed, 0) if later_disputes else None,
    )
    orders_path, disputes_path, truth_path = (
        out_dir / name for name in ("orders.csv", "disputes.csv", "truth.csv")
    )
    later_path = out_dir / LATER_DISPUTES_FILE if later_disputes else None
    _write_truth(truth_path, suppliers)

    line_total = 0
    # Three stages overlap, a thread each: drawing a chunk's numbers (one generator, so in
    # order), building its tables, writing them. NumPy and Arrow release the GIL in their loops,
    # so they share the 2 cores; drawing and building on one thread left the writer waiting,
    # and two building threads left the three fighting over the cores.
    with (
        ExitStack() as files_open,
        ThreadPoolExecutor(max_workers=1) as builder,
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
        files = _open_export_files(files_open, orders_path, disputes_path, later_path)
        pending_writes: deque[tuple[int, Future[None]]] = deque()
        waiting = None
        for first_order in range(0, orders, CHUNK_ORDERS):
            end_order = min(first_order + CHUNK_ORDERS, orders)
            chunk, waiting = _draw_chunk(rng, run, first_order, end_order, line_total, waiting)
            line_total += chunk.line_total
            tables = builder.submit(chunk.tables)
            write_before = pending_writes[-1][1] if pending_writes else None
            write = writer.submit(_write_chunk, files, tables, write_before)
            pending_writes.append((end_order, write))
            while pending_writes and (
                len(pending_writes) > CHUNKS_WAITING or pending_writes[0][1].done()
            ):
                _finish_oldest_write(pending_writes, orders, progress)
        while pending_writes:
            _finish_oldest_write(pending_writes, orders, progress)
    return GeneratedExports(orders_path, disputes_path, truth_path, line_total, later_path)


def _open_export_files(
    stack: ExitStack, orders: Path, disputes: Path, later_disputes: Path | None
) -> tuple[_CsvFile, ...]:
    """The files an export writes, open until `stack` closes: the later disputes' when asked."""
    files = [
        (orders, ORDER_COLUMNS),
        (disputes, DISPUTE_COLUMNS),
        (later_disputes, DISPUTE_COLUMNS),
    ]
    return tuple(
        stack.enter_context(_CsvFile(path, columns)) for path, columns in files if path is not None
    )


def _write_chunk(
    files: tuple[_CsvFile, ...],
    tables: Future[tuple[pa.Table, ...]],
    write_before: Future[None] | None,
) -> None:
    """Write a chunk's tables, only if every chunk before it was written: after a failure the
    files end at the last whole chunk, with no gap in the middle."""
    if write_before is not None:
        write_before.result()  # raises what the write (or build) before it raised
    for file, table in zip(files, tables.result(), strict=True):
        file.write(table)


def _finish_oldest_write(
    pending_writes: deque[tuple[int, Future[None]]],
    orders: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Wait for the oldest chunk's write, and report the orders written so far."""
    end_order, write = pending_writes.popleft()
    write.result()
    if progress is not None:
        progress(end_order, orders)


# --- the next weekly export ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyExports:
    """A weekly export taken one week after the previous one, overlapping it as real ones do."""

    orders: Path
    disputes: Path
    new_lines: int  # ordered during the new week
    updated_lines: int  # ordered in the week before, exported again with their new statuses
    new_disputes: int  # opened during the new week
    updated_disputes: int  # open at the previous export, exported again
    later_disputes: Path | None = None  # as GeneratedExports'


def generate_week(
    out_dir: Path,
    previous: GeneratedExports | Sequence[GeneratedExports | WeeklyExports],
    *,
    orders: int,
    weeks: int = 52,
    seed: int = 42,
    end_date: date = date(2026, 11, 22),
) -> WeeklyExports:
    """Write the export taken 7 days after `previous`: the export `generate` wrote with these
    arguments, or that export followed by the weekly ones written after it, in order.

    It holds what a weekly export holds: about orders/weeks new orders from the same suppliers and
    catalogue, the previous week's lines again with their statuses as of the new export (shipped,
    delivered, cancelled since), the disputes opened on the new lines, and every dispute still open
    at the previous export again (closed with a resolution, or still open). Loading it after the
    previous export exercises "newest export wins". Same arguments, same files.
    """
    history = (previous,) if isinstance(previous, GeneratedExports) else tuple(previous)
    week = len(history)  # of the weekly exports, this one
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The world of `generate(orders, seed)`: these draws must stay in step with generate().
    world = np.random.default_rng(seed)
    suppliers = _draw_suppliers(world, _supplier_count(orders))
    catalog = _draw_catalog(world, suppliers)
    buyer_suffix = int(world.integers(1000, 10_000))
    order_id_gap = _order_id_gap(orders)

    rng = np.random.default_rng([seed, week])
    previous_end = int(datetime.combine(end_date, time(23, 59, 59), UTC).timestamp())
    previous_end += (week - 1) * 7 * DAY
    end = previous_end + 7 * DAY
    exported_at = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    timestamps = _TimestampText(
        (previous_end + 1 - weeks * 7 * DAY) // DAY, end // DAY + DAYS_PAST_EXPORT
    )
    as_text = pa.schema([(name, pa.string()) for name in ORDER_COLUMNS])

    open_disputes = _read_texts(history[-1].disputes, DISPUTE_COLUMNS)
    open_disputes = open_disputes.filter(pc.equal(open_disputes["status"], "open"))
    last_week, open_lines, previous_lines = _previous_lines(
        [export.orders for export in history],
        since=timestamps(np.array([previous_end - 7 * DAY]))[0].as_py(),
        orders_with_open_disputes=open_disputes["supplier_order_id"],
    )
    # Every line each export wrote took an index (tracking numbers, dispute ids): this week's
    # lines, again and new, take the next ones.
    first_line = previous_lines + sum(e.updated_lines + e.new_lines for e in history[1:])

    disputes_as_text = pa.schema([(name, pa.string()) for name in DISPUTE_COLUMNS])
    opened = _opened_during(history, previous_end, end, exported_at)
    orders_path, disputes_path = out_dir / "orders.csv", out_dir / "disputes.csv"
    later_path = out_dir / LATER_DISPUTES_FILE if history[0].later_disputes else None
    new_lines, new_disputes = 0, opened.num_rows
    with ExitStack() as files_open:
        orders_file, disputes_file, *later_file = _open_export_files(
            files_open, orders_path, disputes_path, later_path
        )
        orders_file.write(
            _lines_a_week_on(
                rng,
                last_week,
                suppliers,
                timestamps,
                previous_end,
                end,
                exported_at,
                first_line=first_line,
            )
        )
        disputes_file.write(
            _disputes_a_week_on(
                rng, open_disputes, open_lines, timestamps, previous_end, end
            ).set_column(
                DISPUTE_COLUMNS.index("exported_at"),
                "exported_at",
                pa.array([exported_at] * open_disputes.num_rows, pa.string()),
            )
        )
        disputes_file.write(opened)
        week_orders = max(1, round(orders / weeks))
        chunk_lines = _chunk_lines(week_orders)
        run = _Run(
            suppliers=suppliers,
            catalog=catalog,
            order_total=week_orders,
            start=previous_end + 1,
            end=end,
            timestamps=timestamps,
            exported_at=_repeated(exported_at, chunk_lines),
            currency=_repeated("USD", chunk_lines),
            buyer_suffix=buyer_suffix,
            order_id_gap=order_id_gap,
            first_store_order=1001 + orders + (week - 1) * week_orders,
            later_seed=(seed, week) if later_path else None,
        )
        # New orders continue the previous export's order numbers, store orders and line indexes.
        id_shift = (orders + (week - 1) * week_orders) * order_id_gap * 10_000
        waiting = None
        for first_order in range(0, week_orders, CHUNK_ORDERS):
            last_order = min(first_order + CHUNK_ORDERS, week_orders)
            chunk, waiting = _draw_chunk(
                rng,
                run,
                first_order,
                last_order,
                first_line + last_week.num_rows + new_lines,
                waiting,
            )
            lines, *disputes = chunk.tables()
            lines = lines.set_column(
                0, "supplier_order_id", pc.add(lines["supplier_order_id"], id_shift)
            ).set_column(1, "line_id", pc.add(lines["line_id"], id_shift))
            disputes = [
                table.set_column(
                    1, "supplier_order_id", pc.add(table["supplier_order_id"], id_shift)
                )
                .set_column(2, "line_id", pc.add(table["line_id"], id_shift))
                .cast(disputes_as_text)
                for table in disputes
            ]
            orders_file.write(lines.cast(as_text))
            for file, table in zip([disputes_file, *later_file], disputes, strict=True):
                file.write(table)
            new_lines += lines.num_rows
            new_disputes += disputes[0].num_rows
    return WeeklyExports(
        orders=orders_path,
        disputes=disputes_path,
        new_lines=new_lines,
        updated_lines=last_week.num_rows,
        new_disputes=new_disputes,
        updated_disputes=open_disputes.num_rows,
        later_disputes=later_path,
    )


def _opened_during(
    history: Sequence[GeneratedExports | WeeklyExports], start: int, end: int, exported_at: str
) -> pa.Table:
    """The disputes the earlier exports' lines will have that open after `start`, until `end`:
    in the export taken at `end`, open."""
    found = [
        _read_texts(export.later_disputes, DISPUTE_COLUMNS)
        for export in history
        if export.later_disputes is not None
    ]
    if not found:
        return pa.table({name: pa.array([], pa.string()) for name in DISPUTE_COLUMNS})
    later = pa.concat_tables(found)
    opened_at = _seconds(later["opened_at"])
    opened = later.filter(pa.array((opened_at > start) & (opened_at <= end)))
    return opened.set_column(
        DISPUTE_COLUMNS.index("exported_at"),
        "exported_at",
        pa.array([exported_at] * opened.num_rows, pa.string()),
    ).combine_chunks()


def _read_texts(path: Path, columns: Sequence[str]) -> pa.Table:
    return pa_csv.read_csv(
        path,
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string())),
    )


def _previous_lines(
    paths: Sequence[Path], since: str, orders_with_open_disputes: pa.ChunkedArray
) -> tuple[pa.Table, pa.Table, int]:
    """One pass over the orders.csv of each earlier export, oldest first: the lines the last one
    holds ordered after `since`, the lines of the orders with an open dispute (each once, as its
    newest export has it), and how many lines the first one holds."""
    options = pa_csv.ConvertOptions(column_types=dict.fromkeys(ORDER_COLUMNS, pa.string()))
    disputed, count = [], 0
    wanted = orders_with_open_disputes.combine_chunks()
    for index, path in enumerate(paths):
        recent = []  # the last export's
        with pa_csv.open_csv(path, convert_options=options) as reader:
            for batch in reader:
                count += batch.num_rows if index == 0 else 0
                recent.append(batch.filter(pc.greater(batch["ordered_at"], since)))
                disputed.append(batch.filter(pc.is_in(batch["supplier_order_id"], wanted)))
    schema = pa.schema([(name, pa.string()) for name in ORDER_COLUMNS])
    disputed = pa.Table.from_batches(disputed, schema)
    if len(paths) > 1:  # a line exported again: its newest copy
        rows = pa.table({"line_id": disputed["line_id"], "row": np.arange(disputed.num_rows)})
        newest = rows.group_by("line_id").aggregate([("row", "max")])["row_max"]
        disputed = disputed.take(np.sort(newest.to_numpy()))
    # One chunk each: pyarrow's CSV writer (26.0) writes the whole text buffer of an empty
    # filtered chunk (quoting_style="none") instead of nothing.
    return (
        pa.Table.from_batches(recent, schema).combine_chunks(),
        disputed.combine_chunks(),
        count,
    )


def _seconds(texts: pa.ChunkedArray) -> np.ndarray:
    """Epoch seconds of ISO texts written by _TimestampText; 0 where empty."""
    present = pc.not_equal(texts, "")
    parsed = pc.strptime(
        pc.if_else(present, texts, "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ", "s"
    )
    return parsed.cast(pa.int64()).to_numpy()


def _cents(texts: pa.ChunkedArray) -> np.ndarray:
    present = pc.not_equal(texts, "")
    return np.round(pc.if_else(present, texts, "0").cast(pa.float64()).to_numpy() * 100).astype(
        np.int64
    )


def _lines_a_week_on(
    rng: np.random.Generator,
    lines: pa.Table,
    suppliers: _Suppliers,
    timestamps: _TimestampText,
    previous_end: int,
    end: int,
    exported_at: str,
    first_line: int,
) -> pa.Table:
    """The previous week's lines as the next export shows them: placed lines ship or are
    cancelled by the seller, shipped ones are delivered unless the supplier loses them."""
    count = lines.num_rows
    supplier = pc.index_in(lines["supplier_id"], value_set=suppliers.id_texts).to_numpy(
        zero_copy_only=False
    )
    status = lines["status"].to_numpy(zero_copy_only=False)
    placed, shipped = status == "placed", status == "shipped"
    ordered = _seconds(lines["ordered_at"])
    handling = np.clip(rng.gamma(3.0, suppliers.handling_days_mean[supplier] / 3.0), 1.0, 10.0)
    # Not shipped by the previous export, so any shipment falls after it.
    ship_at = np.maximum(
        ordered + (handling * DAY).astype(np.int64),
        previous_end + (rng.uniform(0, 3, count) * DAY).astype(np.int64),
    )
    cancels = placed & (rng.random(count) < suppliers.seller_cancel_probability[supplier])
    ships = placed & ~cancels & (ship_at <= end)
    carrier = _draw_categories(rng, [c[1] for c in CARRIERS], count)
    tracking_digits = np.array([c[4] for c in CARRIERS])[carrier]
    # Indexes no export has used, so no tracking number is used twice.
    line_index = first_line + np.arange(count)
    tracking_number = 10 ** (tracking_digits - 1) + 7 * line_index + rng.integers(0, 7, count)
    tracking = pc.binary_join_element_wise(
        _texts([c[3] for c in CARRIERS], carrier),
        pa.array(tracking_number).cast(pa.string()),
        _texts([c[5] for c in CARRIERS], carrier),
        "",
    )
    shipped_at = _seconds(lines["shipped_at"])
    transit = np.clip(
        np.array([c[2] for c in CARRIERS])[carrier] * rng.lognormal(0.0, 0.35, count), 7.0, 45.0
    )
    deliver_at = np.maximum(
        shipped_at + (transit * DAY).astype(np.int64),
        previous_end + (rng.uniform(0, 7, count) * DAY).astype(np.int64),
    )
    lost = rng.random(count) < suppliers.not_received_probability[supplier]
    delivers = shipped & ~lost & (deliver_at <= end)

    def changed(column: str, where: np.ndarray, values: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(where), values, lines[column].combine_chunks())

    updates = {
        "status": changed(
            "status",
            cancels | ships | delivers,
            _texts(STATUSES, np.select([cancels, ships], [CANCELLED, SHIPPED], DELIVERED)),
        ),
        "cancelled_by": changed(
            "cancelled_by", cancels, _texts(CANCELLERS, np.full(count, SELLER))
        ),
        "shipped_at": changed("shipped_at", ships, timestamps(np.where(ships, ship_at, 0), ships)),
        "delivered_at": changed(
            "delivered_at", delivers, timestamps(np.where(delivers, deliver_at, 0), delivers)
        ),
        "tracking_number": changed("tracking_number", ships, tracking),
        "carrier": changed("carrier", ships, _texts([c[0] for c in CARRIERS], carrier)),
        "exported_at": pa.array([exported_at] * count, pa.string()),
    }
    for column, values in updates.items():
        lines = lines.set_column(ORDER_COLUMNS.index(column), column, values)
    return lines


def _disputes_a_week_on(
    rng: np.random.Generator,
    disputes: pa.Table,
    lines: pa.Table,
    timestamps: _TimestampText,
    previous_end: int,
    end: int,
) -> pa.Table:
    """Disputes open at the previous export, a week on: some closed, with the money they moved."""
    count = disputes.num_rows
    kind_of_reason = {text: kind for kind, reasons in enumerate(REASONS) for text in reasons}
    kind = np.array(  # int64 also when empty, to index with
        [kind_of_reason.get(text, DEFECT) for text in disputes["reason"].to_pylist()], np.int64
    )
    value_cents = _covered_value_cents(disputes, lines)
    opened_at = _seconds(disputes["opened_at"])
    closed_at = np.maximum(
        opened_at + (np.clip(rng.gamma(2.0, 3.5, count) + 1.0, 1.0, 30.0) * DAY).astype(np.int64),
        previous_end + (rng.uniform(0, 10, count) * DAY).astype(np.int64),
    )
    is_closed = closed_at <= end
    weights = np.array(RESOLUTION_WEIGHTS, float)[kind].reshape(count, len(RESOLUTIONS))
    resolution, status, refund_cents, return_method, return_cost_cents = _draw_outcomes(
        rng, weights, kind, is_closed, value_cents
    )
    updates = {
        "closed_at": timestamps(np.where(is_closed, closed_at, 0), is_closed),
        "status": _texts(DISPUTE_STATUSES, status),
        "resolution": _texts(RESOLUTIONS, resolution, is_closed),
        "refund_amount": _money(refund_cents, is_closed),
        "return_method": _texts(RETURN_METHODS, return_method, is_closed),
        "return_shipping_cost": _money(return_cost_cents, is_closed & (return_method != NO_RETURN)),
    }
    for column, values in updates.items():
        disputes = disputes.set_column(
            DISPUTE_COLUMNS.index(column), column, values.cast(pa.string())
        )
    return disputes


def _covered_value_cents(disputes: pa.Table, lines: pa.Table) -> np.ndarray:
    """What the lines each dispute covers are worth: its line, else its product's lines in the
    order, else the whole order (as int_disputes_matched_to_lines shares money out)."""
    value = pc.add(
        pc.multiply(lines["quantity"].cast(pa.int64()), pa.array(_cents(lines["unit_price"]))),
        pa.array(_cents(lines["shipping_fee"])),
    )
    priced = pa.table(
        {
            "supplier_order_id": lines["supplier_order_id"],
            "line_line_id": lines["line_id"],
            "line_product_id": lines["product_id"],
            "value": value,
        }
    )
    keyed = disputes.select(["dispute_id", "supplier_order_id", "line_id", "product_id"])
    matched = keyed.join(priced, "supplier_order_id", join_type="inner")
    named_line = pc.not_equal(matched["line_id"], "")
    named_product = pc.not_equal(matched["product_id"], "")
    covers = pc.if_else(
        named_line,
        pc.equal(matched["line_id"], matched["line_line_id"]),
        pc.or_(
            pc.invert(named_product), pc.equal(matched["product_id"], matched["line_product_id"])
        ),
    )
    totals = matched.filter(covers).group_by("dispute_id").aggregate([("value", "sum")])
    lookup = dict(
        zip(totals["dispute_id"].to_pylist(), totals["value_sum"].to_pylist(), strict=True)
    )
    return np.array([lookup.get(key, 0) for key in disputes["dispute_id"].to_pylist()], np.int64)
