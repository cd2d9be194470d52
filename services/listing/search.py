"""The catalog's search index: Tantivy, with Chinese word segmentation (rjieba, the jieba-rs binding).

A pure cache of the items on sale, kept current from item events by each replica (services/listing/catalog_feed.py)
and rebuilt from the items projection at start: nothing here is the truth. Text is segmented once, in Python:
titles and descriptions with jieba's search mode (every word and the words inside it: 九成新 → 九成, 九成新), queries
with its accurate mode, Latin words and digits lower-cased; the index stores the tokens space-separated under
Tantivy's `whitespace` tokenizer, so both sides agree exactly. A handful of synonyms (SYNONYMS) are added to an
item's own `synonyms` field at index time, so `苹果手机` finds an `iPhone 13` and `单车` a `自行车`.

A query with `q` is ranked by BM25 (title above description above synonyms) unless a sort is asked for; every
query term must match. Pages are keyset pages on a unique 63-bit sort key per item (the sort value, then 20 bits of
the item id's hash), so a cursor stays right while items are added and sold between pages; relevance pages, whose
order has no such key, continue by offset.

Writes are batched: upserts and removals queue up and one `flush` applies them and commits, in a worker thread
(a commit is expensive and must never block the event loop); searches read the last committed state.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import re
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rjieba
import tantivy

from services.listing.catalog import CatalogQuery
from services.listing.domain import Item
from shared.pagination import decode_cursor, encode_cursor

_WORD = re.compile(r"[0-9a-z]+(?:[.+#][0-9a-z]+)*|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HASH_BITS = 20
_HASH_MASK = (1 << _HASH_BITS) - 1
_SORTS = {"newest": ("k_new", True), "price_asc": ("k_price", False), "price_desc": ("k_price", True)}
WRITER_HEAP_BYTES = 50_000_000
# Bump whenever `_schema` or what `_document` writes changes: a directory made by another version is rebuilt.
SCHEMA_VERSION = "1"
# BM25 weights of the fields a query term may match in.
TITLE_BOOST = 3.0
DESCRIPTION_BOOST = 1.0
SYNONYM_BOOST = 1.0

# Words that name the same thing, as shoppers type them. An item holding any word of a group is also indexed under
# the group's other words (in a low-weight field), so a query for any of them finds it.
# Words that make a listing an accessory of the thing it names (a 手机壳 is not a 手机). A query holding none of them
# ranks the listings whose title holds none of them higher: whoever searches 苹果手机 wants phones first.
ACCESSORY_WORDS = (
    "壳",
    "手机壳",
    "保护壳",
    "膜",
    "钢化膜",
    "贴膜",
    "手机膜",
    "充电器",
    "充电",
    "充电宝",
    "数据线",
    "充电线",
    "保护套",
    "手机套",
    "支架",
    "配件",
)
ACCESSORY_DEMOTION = 1000.0  # far above any BM25 score: accessories come after the things themselves

SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("iphone", "苹果手机"),
    ("ipad", "苹果平板"),
    ("macbook", "苹果电脑"),
    ("airpods", "苹果耳机"),
    ("自行车", "单车", "脚踏车"),
    ("山地车", "山地自行车", "山地单车"),
    ("公路车", "公路自行车", "公路单车"),
    ("折叠车", "折叠自行车", "折叠单车"),
    ("笔记本", "笔记本电脑", "laptop"),
    ("手机", "phone"),
    ("耳机", "earphone", "headphone"),
    ("相机", "camera"),
    ("switch", "任天堂", "nintendo"),
    ("kindle", "电子书阅读器"),
    ("婴儿车", "婴儿推车"),
    ("羽绒服", "down jacket"),
    ("九成新", "9成新"),
    # Brands, as sellers write them in Chinese and in Latin letters.
    ("耐克", "nike"),
    ("阿迪达斯", "阿迪", "adidas"),
    ("新百伦", "new balance"),
    ("优衣库", "uniqlo"),
    ("宜家", "ikea"),
    ("迪卡侬", "decathlon"),
    ("捷安特", "giant"),
    ("华为", "huawei"),
    ("小米", "xiaomi"),
    ("索尼", "sony"),
    ("佳能", "canon"),
    ("尼康", "nikon"),
    ("乐高", "lego"),
    ("戴森", "dyson"),
)


def _cut(text: str, *, search_mode: bool) -> list[str]:
    words = rjieba.cut_for_search(text) if search_mode else rjieba.cut(text)
    out: list[str] = []
    for word in words:
        out.extend(_WORD.findall(word.lower()))
    return out


def analyze(text: str) -> list[str]:
    """The tokens an item's text is indexed under: every word jieba finds (and the words inside it), lower-cased."""
    return _cut(text, search_mode=True)


def query_tokens(q: str) -> list[str]:
    """The terms a query must all match: jieba's accurate cut, lower-cased, each once."""
    seen: list[str] = []
    for token in _cut(q, search_mode=False):
        if token not in seen:
            seen.append(token)
    return seen


def _synonym_index() -> list[tuple[list[str], list[str]]]:
    """For each synonym (as the tokens a query for it yields), the tokens of its group's other words."""
    pairs = []
    for group in SYNONYMS:
        tokens = [query_tokens(word) for word in group]
        for i, own in enumerate(tokens):
            others = [t for j, other in enumerate(tokens) if j != i for t in other]
            pairs.append((own, others))
    return pairs


_SYNONYM_PAIRS = _synonym_index()


def synonyms_of(tokens: Sequence[str]) -> list[str]:
    """The tokens an item is also found by: the other words of each synonym group whose word its text holds."""
    have = set(tokens)
    extra: list[str] = []
    for own, others in _SYNONYM_PAIRS:
        if own and set(own) <= have:
            extra.extend(t for t in others if t not in have and t not in extra)
    return extra


def _key(value: int, item_id: str) -> int:
    """A unique, ordered 63-bit sort key: the value, then 20 bits of the id's hash to break ties."""
    digest = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "big")
    return (value << _HASH_BITS) | (digest & _HASH_MASK)


def _keys(item: Item) -> dict[str, int]:
    """The item's sort keys, by the name of their fast field."""
    return {"k_new": _key(_ms(item.published_at), item.item_id), "k_price": _key(item.price_fen, item.item_id)}


def _iso_ms(at: datetime | None) -> str | None:
    """A time as the database keeps it (milliseconds): the same card whether built from a command's state or from
    the projection."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000).isoformat() if at else None


def _ms(at: datetime | None) -> int:
    return int((at or datetime(1970, 1, 1, tzinfo=UTC)).timestamp() * 1000)


class SortedKeys:
    """The sort keys of the indexed items in order, kept beside the index: for a page with no filter, the key range
    that holds exactly its items is found here (a bisection), and Tantivy then reads those few documents instead of
    ranking every item on sale."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}
        self.keys: list[int] = []

    def replace(self, pairs: dict[str, int]) -> None:
        self.of = dict(pairs)
        self.keys = sorted(pairs.values())

    def set(self, item_id: str, key: int | None) -> None:
        old = self.of.pop(item_id, None)
        if old is not None:
            at = bisect.bisect_left(self.keys, old)
            if at < len(self.keys) and self.keys[at] == old:
                del self.keys[at]
        if key is not None:
            self.of[item_id] = key
            bisect.insort(self.keys, key)

    def window(self, n: int, after: int | None, descending: bool) -> tuple[int, int] | None:
        """The inclusive key range of the `n` items that come after the key `after` (from the start if None) in this
        order; None when no item does."""
        keys = self.keys
        if descending:
            hi = bisect.bisect_left(keys, after) if after is not None else len(keys)
            return (keys[max(0, hi - n)], keys[hi - 1]) if hi > 0 else None
        lo = bisect.bisect_right(keys, after) if after is not None else 0
        return (keys[lo], keys[min(len(keys), lo + n) - 1]) if lo < len(keys) else None


@dataclass(frozen=True)
class Card:
    """An item as the catalog shows it (the seller's shop facts are added by the route)."""

    item_id: str
    shop_id: str
    data: dict[str, Any]


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    b.add_text_field("title", tokenizer_name="whitespace", index_option="freq")
    b.add_text_field("description", tokenizer_name="whitespace", index_option="freq")
    b.add_text_field("synonyms", tokenizer_name="whitespace", index_option="freq")
    for name in ("status", "category", "condition", "city", "seller_id"):
        b.add_text_field(name, tokenizer_name="raw", index_option="basic")
    b.add_integer_field("price_fen", indexed=True, fast=True)
    b.add_integer_field("k_new", indexed=True, fast=True)
    b.add_integer_field("k_price", indexed=True, fast=True)
    b.add_bytes_field("card", stored=True)
    return b.build()


class CatalogIndex:
    """One replica's index of the items on sale: in `path`, or in memory when `path` is None (tests)."""

    def __init__(self, path: Path | None) -> None:
        self.schema = _schema()
        self.path = path
        self.index = self._open(path)
        self._writer = self.index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
        self._lock = threading.Lock()  # the writer is used by one flush at a time, in a worker thread
        self._pending: dict[str, tuple[int, Item | None]] = {}  # item id → (seq, item or None for a removal)
        self._inflight: dict[str, tuple[int, Item | None]] = {}  # the batch being committed
        self._seqs: dict[str, int] = {}  # the seq each item was last written at (never go back)
        self.sorted = {"k_new": SortedKeys(), "k_price": SortedKeys()}  # of what the searcher sees
        self._flushing = asyncio.Lock()
        self.searcher = self.index.searcher()

    def _open(self, path: Path | None) -> tantivy.Index:
        if path is None:
            return tantivy.Index(self.schema)
        # The directory holds the schema version it was made with: another one (or none, or an unreadable index) is
        # a cache from another version of this code, started again.
        marker = path / "fishbridge-schema"
        try:
            if marker.read_text() == SCHEMA_VERSION and tantivy.Index.exists(str(path)):
                return tantivy.Index.open(str(path))
        except (ValueError, OSError):
            pass
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        index = tantivy.Index(self.schema, path=str(path))
        marker.write_text(SCHEMA_VERSION)
        return index

    # ------------------------------------------------------------------------------------------------ writes

    def put(self, item: Item, seq: int) -> None:
        """Queue the item at stream position `seq` (ignored if an equal or later one was written or is queued):
        indexed if it is on sale, removed otherwise."""
        known = max(
            self._seqs.get(item.item_id, 0),
            self._pending.get(item.item_id, (0, None))[0],
            self._inflight.get(item.item_id, (0, None))[0],
        )
        if seq <= known:
            return
        self._pending[item.item_id] = (seq, item if item.status == "on_sale" else None)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Apply the queued writes and commit, in a worker thread; the searches see them afterwards. How many."""
        async with self._flushing:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            # A rebuild since the put may have written a later state already: never go back to an older one.
            batch = {item_id: op for item_id, op in batch.items() if op[0] > self._seqs.get(item_id, 0)}
            if not batch:
                return 0
            self._inflight = batch
            try:
                await asyncio.to_thread(self._apply, batch)
                for item_id, (seq, item) in batch.items():
                    self._seqs[item_id] = max(seq, self._seqs.get(item_id, 0))
                    keys = _keys(item) if item is not None else {}
                    for name, sorted_keys in self.sorted.items():
                        sorted_keys.set(item_id, keys.get(name))
                self.searcher = self.index.searcher()
            except BaseException:
                # Not committed: queue it again, behind anything newer that came meanwhile.
                for item_id, op in batch.items():
                    if op[0] > self._pending.get(item_id, (0, None))[0]:
                        self._pending[item_id] = op
                raise
            finally:
                self._inflight = {}
            return len(batch)

    def _apply(self, batch: dict[str, tuple[int, Item | None]]) -> None:
        with self._lock:
            for item_id, (_, item) in batch.items():
                self._writer.delete_documents_by_term("id", item_id)
                if item is not None:
                    self._writer.add_document(self._document(item))
            self._writer.commit()
            self.index.reload()

    def rebuild(self, items: Iterable[tuple[Item, int]]) -> int:
        """Replace the whole index with `items` (item, seq), committed at once; blocking, for start-up and the
        `reindex` command. How many items are on sale in it."""
        with self._lock:
            self._writer.delete_all_documents()
            self._seqs = {}
            keys: dict[str, dict[str, int]] = {name: {} for name in self.sorted}
            count = 0
            for item, seq in items:
                self._seqs[item.item_id] = seq
                if item.status == "on_sale":
                    self._writer.add_document(self._document(item))
                    for name, key in _keys(item).items():
                        keys[name][item.item_id] = key
                    count += 1
            self._writer.commit()
            self.index.reload()
            for name, sorted_keys in self.sorted.items():
                sorted_keys.replace(keys[name])
        self.searcher = self.index.searcher()
        return count

    async def rebuild_from(self, read: Callable[[], Awaitable[Iterable[tuple[Item, int]]]]) -> int:
        """`rebuild` from what `read` gives, with no flush in between (a flush could otherwise undo the rebuild, or be
        undone by it: write a state older than the one read, or have its newer state replaced by the one read). Of the
        writes queued, those newer than what was read are applied after it, the others dropped."""
        async with self._flushing:
            items = await read()
            count = await asyncio.to_thread(self.rebuild, items)
            # Queued writes the read already has (or has later) are spent: a removal among them would hide the item.
            self._pending = {i: op for i, op in self._pending.items() if op[0] > self._seqs.get(i, 0)}
            return count

    def close(self) -> None:
        with self._lock:
            self._writer.wait_merging_threads()

    def _document(self, item: Item) -> tantivy.Document:
        title, description = analyze(item.title), analyze(item.description)
        card = {
            "id": item.item_id,
            "shop_id": item.shop_id,
            "seller_id": item.seller_id,
            "title": item.title,
            "description": item.description,
            "category": item.category,
            "condition": item.condition,
            "price_fen": item.price_fen,
            "images": item.images,
            "city": item.city,
            "status": item.status,
            "created_at": _iso_ms(item.created_at),
            "updated_at": _iso_ms(item.updated_at),
            "published_at": _iso_ms(item.published_at),
        }
        return tantivy.Document(
            id=item.item_id,
            title=" ".join(title),
            description=" ".join(description),
            synonyms=" ".join(synonyms_of(title + description)),
            status=item.status,
            category=item.category,
            condition=item.condition,
            city=item.city,
            seller_id=item.seller_id,
            price_fen=item.price_fen,
            **_keys(item),
            card=json.dumps(card, ensure_ascii=False).encode(),
        )

    # ------------------------------------------------------------------------------------------------ reads

    def _term(self, field: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, field, value)

    def _range(
        self,
        field: str,
        lower: int | None,
        upper: int | None,
        include_lower: bool,
        include_upper: bool,
        *,
        use_inverted_index: bool = False,
    ) -> tantivy.Query:
        """A range of an integer field: through the term dictionary for a narrow one (a page's keys), through the
        fast-field column otherwise."""
        return tantivy.Query.range_query(
            self.schema,
            field,
            tantivy.FieldType.Integer,
            lower,
            upper,
            include_lower=include_lower,
            include_upper=include_upper,
            use_inverted_index=use_inverted_index,
        )

    def _not_an_accessory(self) -> tantivy.Query:
        """A constant score for every listing whose title names no accessory."""
        accessory = [(tantivy.Occur.MustNot, self._term("title", word)) for word in ACCESSORY_WORDS]
        plain = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()), *accessory])
        return tantivy.Query.const_score_query(plain, ACCESSORY_DEMOTION)

    def _text_query(self, tokens: Sequence[str]) -> tantivy.Query:
        """Every token must match, in the title (weighted most), the description or the synonyms."""
        must = []
        for token in tokens:
            fields = [
                tantivy.Query.boost_query(self._term("title", token), TITLE_BOOST),
                tantivy.Query.boost_query(self._term("description", token), DESCRIPTION_BOOST),
                tantivy.Query.boost_query(self._term("synonyms", token), SYNONYM_BOOST),
            ]
            must.append((tantivy.Occur.Must, tantivy.Query.boolean_query([(tantivy.Occur.Should, f) for f in fields])))
        return tantivy.Query.boolean_query(must)

    def search(self, query: CatalogQuery) -> tuple[list[Card], str | None]:
        """One page of cards in the query's order, and the cursor of the next page (None on the last)."""
        # The index holds only items on sale (any other status removes an item), so no clause asks for the status.
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for name in ("category", "condition", "city", "seller_id"):
            value = getattr(query, name)
            if value:
                clauses.append((tantivy.Occur.Must, self._term(name, value)))
        if query.min_price_fen is not None or query.max_price_fen is not None:
            price = tantivy.Query.range_query(
                self.schema, "price_fen", tantivy.FieldType.Integer, query.min_price_fen, query.max_price_fen
            )
            clauses.append((tantivy.Occur.Must, price))
        tokens = query_tokens(query.q) if query.q else []
        if query.q and not tokens:
            return [], None  # nothing in it can be searched for (punctuation only)
        if tokens:
            clauses.append((tantivy.Occur.Must, self._text_query(tokens)))
            if not set(tokens) & set(ACCESSORY_WORDS):
                clauses.append((tantivy.Occur.Should, self._not_an_accessory()))
        sort = query.sort or ("relevance" if tokens else "newest")
        offset = 0
        if sort == "relevance":
            if query.cursor:
                offset, _ = decode_cursor(query.cursor, "relevance")
                if not isinstance(offset, int) or offset < 0:
                    offset = 0
        # Items this replica has taken off sale but not committed yet (an order just placed here) are left out now,
        # not at the next commit: fetch as many more, to fill the page without them.
        removed = {item_id for ops in (self._inflight, self._pending) for item_id, (_, item) in ops.items() if not item}
        wanted = query.limit + 1 + min(len(removed), 100)
        searcher = self.searcher
        if sort != "relevance":
            field, descending = _SORTS[sort]
            after: int | None = None
            if query.cursor:
                key, _ = decode_cursor(query.cursor, sort)
                after = key if isinstance(key, int) else None
            filtered = bool(clauses)
            if not filtered:
                # No filter: the exact key range of this page, from the sorted keys (the same commit as `searcher`).
                window = self.sorted[field].window(wanted, after, descending)
                if window is None:
                    return [], None
                page = self._range(field, window[0], window[1], True, True, use_inverted_index=True)
                clauses.append((tantivy.Occur.Must, page))
            elif after is not None:
                lower, upper = (None, after) if descending else (after, None)
                clauses.append((tantivy.Occur.Must, self._range(field, lower, upper, lower is None, upper is None)))
        compiled = tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()
        if sort == "relevance":
            hits = searcher.search(compiled, wanted, count=False, offset=offset).hits
        else:
            field, descending = _SORTS[sort]
            order = tantivy.Order.Desc if descending else tantivy.Order.Asc
            hits = searcher.search(compiled, wanted, count=False, order_by_field=field, order=order).hits
        cards = []
        for _, address in hits:
            data = json.loads(searcher.doc(address)["card"][0])
            if data["id"] not in removed:
                cards.append(Card(item_id=data["id"], shop_id=data["shop_id"], data=data))
        more = len(cards) > query.limit
        cards = cards[: query.limit]
        if not more or not cards:
            return cards, None
        last = cards[-1]
        if sort == "relevance":
            return cards, encode_cursor("relevance", offset + query.limit, last.item_id)
        value = _ms(datetime.fromisoformat(last.data["published_at"])) if sort == "newest" else last.data["price_fen"]
        return cards, encode_cursor(sort, _key(value, last.item_id), last.item_id)
