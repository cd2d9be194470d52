"""The catalog's search index (services/listing/search.py) over a fixed corpus of ~300 listings: how text is
segmented, what each query finds and in which order, the filters and sorts, and how writes and pages behave."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from services.listing.catalog import CatalogQuery
from services.listing.domain import Item
from services.listing.search import SYNONYMS, CatalogIndex, analyze, query_tokens, synonyms_of
from shared.errors import ValidationFailed
from shared.pagination import decode_cursor
from tests.unit.listing.search_corpus import BY_ID, ITEMS, KIND, T0, of_kind, one, titled

PHONES = {"iphone", "huawei_phone", "xiaomi_phone", "android_phone", "phone_elder"}
BIKES = {"mountain_bike", "road_bike", "city_bike", "folding_bike", "kids_bike", "fixed_gear", "ebike"}
_TOKEN = re.compile(r"[0-9a-z]+(?:[.+#][0-9a-z]+)*|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def fresh() -> CatalogIndex:
    index = CatalogIndex(None)
    assert index.rebuild((item, 1) for item in ITEMS) == len(ITEMS)
    return index


@pytest.fixture(scope="module")
def catalog() -> CatalogIndex:
    """The whole corpus, read only (tests that write build their own with `fresh`)."""
    return fresh()


def search(index: CatalogIndex, q: str | None = None, **filters: Any) -> list[str]:
    """The ids a query finds, in order, page after page."""
    out: list[str] = []
    cursor = None
    while True:
        cards, cursor = index.search(CatalogQuery(q=q, limit=100, cursor=cursor, **filters))
        out.extend(card.item_id for card in cards)
        if cursor is None:
            return out


def pages(index: CatalogIndex, limit: int, **query: Any) -> list[list[str]]:
    out, cursor = [], None
    while True:
        cards, cursor = index.search(CatalogQuery(limit=limit, cursor=cursor, **query))
        out.append([card.item_id for card in cards])
        if cursor is None:
            return out


def describe(ids: list[str]) -> list[str]:
    return [f"{item_id} {KIND[item_id]} {BY_ID[item_id].title}" for item_id in ids]


# ---------------------------------------------------------------------------------------------------- the corpus


def test_the_corpus_is_a_few_hundred_distinct_listings_on_sale_across_categories() -> None:
    assert 250 <= len(ITEMS) <= 350
    assert len(BY_ID) == len(ITEMS) == len({item.title for item in ITEMS})
    assert [item.item_id for item in ITEMS[:2]] == ["itm_c001", "itm_c002"]
    assert len({item.category for item in ITEMS}) >= 11 and len({item.city for item in ITEMS}) == 10
    assert {item.condition for item in ITEMS} == {"new", "like_new", "good", "fair"}
    assert all(item.status == "on_sale" and item.price_fen > 0 for item in ITEMS)
    published = [item.published_at for item in ITEMS if item.published_at]
    assert published == sorted(published, reverse=True) and len(set(published)) == len(ITEMS)


# -------------------------------------------------------------------------------------------------- segmentation


def test_analyze_finds_chinese_words_the_words_inside_them_and_lower_cased_latin_words() -> None:
    tokens = analyze("苹果手机九成新，iPhone 13 Pro 256G")
    assert {"苹果", "手机", "九成新", "iphone", "13", "pro", "256g"} <= set(tokens)
    assert "九成" in tokens  # search mode: the words inside 九成新 too
    assert analyze("捷安特山地自行车") == ["捷安特", "山地", "自行", "行车", "自行车"]


def test_queries_use_the_accurate_cut_so_every_query_word_is_among_the_words_indexed_for_the_same_text() -> None:
    assert query_tokens("九成新") == ["九成新"] and analyze("九成新") == ["九成", "九成新"]
    assert query_tokens("笔记本电脑") == ["笔记本电脑"]
    for item in ITEMS:
        for text in (item.title, item.description):
            assert set(query_tokens(text)) <= set(analyze(text)), text


@pytest.mark.parametrize(
    "text",
    [
        "，。！？、；：“”‘’（）《》【】—…·",
        "!?.,;:'\"()[]{}<>/\\|-_=+*&^%$#@~`",
        " \t\n\u3000 ",
        "",
        "🎉🔥👍",
    ],
    ids=["cjk-punctuation", "ascii-punctuation", "spaces", "empty", "emoji"],
)
def test_punctuation_spaces_and_emoji_never_become_tokens(text: str) -> None:
    assert analyze(text) == [] and query_tokens(text) == []


def test_no_token_of_any_listing_holds_a_space_punctuation_or_a_capital() -> None:
    for item in ITEMS:
        for token in analyze(item.title) + analyze(item.description):
            assert _TOKEN.fullmatch(token), (item.item_id, token)
    assert analyze("《三体》全集") == ["三体", "全集"]
    assert analyze("出 iPhone 11 64G，成色一般，电池92%") == ["出", "iphone", "11", "64g", "成色", "一般", "电池", "92"]


def test_latin_words_are_lower_cased_on_both_sides() -> None:
    assert analyze("MacBook Air M1") == ["macbook", "air", "m1"]
    assert query_tokens("MACBOOK air m1") == ["macbook", "air", "m1"]
    assert query_tokens("Kindle PaperWhite") == analyze("kindle paperwhite") == ["kindle", "paperwhite"]
    assert analyze("Switch OLED 13.6 寸") == ["switch", "oled", "13.6", "寸"]


def test_query_tokens_are_each_kept_once_in_order() -> None:
    assert query_tokens("iPhone iphone IPHONE 手机 手机") == ["iphone", "手机"]
    assert query_tokens("单车 自行车 单车") == ["单车", "自行车"]


def test_synonyms_add_the_other_words_of_a_group_and_never_a_word_the_text_holds() -> None:
    assert synonyms_of(analyze("iPhone 13 Pro")) == ["苹果", "手机"]
    assert synonyms_of(analyze("苹果手机 XR")) == ["iphone", "phone"]
    extra = synonyms_of(analyze("捷安特 ATX 山地车"))
    assert {"自行车", "单车", "giant"} <= set(extra)
    assert "山地车" not in extra and "捷安特" not in extra and len(extra) == len(set(extra))
    assert "down" in synonyms_of(analyze("优衣库羽绒服")) and "羽绒服" in synonyms_of(analyze("light down jacket"))
    assert synonyms_of(analyze("三体 全集")) == []


def test_every_synonym_is_searchable_and_belongs_to_one_group() -> None:
    words = [word for group in SYNONYMS for word in group]
    assert len(words) == len(set(words))
    assert all(len(group) >= 2 for group in SYNONYMS)
    assert all(query_tokens(word) for word in words)


# ------------------------------------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Expect:
    """What a shopper expects of a query: the first `top` results are all of `kinds`; every id of `finds` is found
    (anywhere); none of `misses` is; and the results start with `first`, in that order."""

    name: str
    q: str
    kinds: set[str] = field(default_factory=set)
    top: int = 0
    finds: set[str] = field(default_factory=set)
    misses: set[str] = field(default_factory=set)
    first: tuple[str, ...] = ()


IPHONE_13 = titled("iPhone 13", kind="iphone")
IPHONE_THINGS = {"iphone", "phone_case", "phone_charger", "phone_film"}
OTHER_PHONES = of_kind("huawei_phone", "xiaomi_phone", "android_phone")
KINDLES = of_kind("kindle")
GOOD_KINDLES = titled("九成新", "kindle") | titled("9成新", "kindle")
LAPTOPS = of_kind("laptop")
DOWN_JACKETS = of_kind("down_jacket")
NIKE = of_kind("nike_shoes") | titled("耐克", kind="clothes")

RANKING = [
    # Phones. (Their cases can rank among them: see test_iphones_rank_ahead_of_their_cases_and_chargers.)
    Expect("apple-phone", "苹果手机", IPHONE_THINGS, 10, of_kind("iphone"), OTHER_PHONES, (one("苹果手机 XR"),)),
    Expect(
        "iphone-13", "iphone 13", {"iphone"}, 3, IPHONE_13, titled("iPhone 12") | titled("iPhone 14") | OTHER_PHONES
    ),
    Expect("iphone", "iphone", {"iphone"}, 3, of_kind("iphone") | titled("iPhone", kind="phone_case"), OTHER_PHONES),
    Expect("huawei-mate-40", "华为 mate 40", {"huawei_phone", "phone_case"}, 4, titled("Mate 40"), titled("Mate 60")),
    Expect("xiaomi-12", "小米 12", {"xiaomi_phone"}, 1, first=(one("小米 12"),)),
    Expect("sony-a7m3", "索尼 a7m3", {"camera"}, 2, titled("A7M3")),
    # Electronics.
    Expect("kindle-good", "九成新 kindle", {"kindle"}, 5, GOOD_KINDLES, titled("oasis") | of_kind("ereader")),
    Expect("good-condition", "九成新", finds=titled("九成新") | titled("9成新")),
    Expect("kindle", "kindle", {"kindle"}, 5, KINDLES, of_kind("ereader")),
    Expect("e-reader", "电子书阅读器", {"kindle"}, 5, KINDLES),
    Expect(
        "switch", "switch", {"switch", "switch_game"}, 7, of_kind("switch", "switch_game"), first=(one("OLED 日版"),)
    ),
    Expect("nintendo", "任天堂", {"switch", "switch_game"}, 7, of_kind("switch", "switch_game")),
    Expect("camera-zh", "相机", {"camera", "camera_bag"}, 10, of_kind("camera")),
    Expect("camera", "camera", {"camera", "camera_bag"}, 10, of_kind("camera")),
    Expect("apple-earphones", "苹果耳机", {"airpods"}, 4, of_kind("airpods")),
    Expect("ipad", "ipad", {"ipad"}, 4, of_kind("ipad")),
    # Computers: every laptop, by either name (a laptop bag is literally a 笔记本电脑包).
    Expect("laptop-zh", "笔记本电脑", {"laptop"}, 2, LAPTOPS),
    Expect("laptop", "laptop", {"laptop"}, 9, LAPTOPS),
    Expect("macbook", "macbook", {"laptop"}, 5, titled("macbook")),
    # Books.
    Expect("three-body", "三体", {"santi"}, 4, of_kind("santi"), first=(one("《三体》全集"),)),
    Expect("liu-cixin", "刘慈欣", {"santi", "scifi"}, 4, of_kind("scifi") | titled("刘慈欣")),
    Expect("kaoyan-english", "考研英语", {"kaoyan"}, 3, titled("考研英语")),
    # Bicycles: 单车 and 自行车 are the same thing, and so are 山地车 and 山地自行车.
    Expect("bike-danche", "单车", BIKES, 10, of_kind(*BIKES)),
    Expect("bike", "自行车", BIKES | {"bike_lock"}, 10, of_kind(*BIKES)),
    Expect("mountain-bike", "山地车", {"mountain_bike"}, 3, of_kind("mountain_bike")),
    Expect("road-bike", "公路车", {"road_bike", "city_bike"}, 5, of_kind("road_bike")),
    Expect("giant-atx", "捷安特 ATX", {"mountain_bike"}, 3, titled("捷安特 ATX"), of_kind("road_bike")),
    Expect("giant", "giant", {"mountain_bike", "road_bike"}, 4, titled("捷安特")),
    # Clothes and shoes, Chinese and English names alike (a down vest is no 羽绒服).
    Expect("down-jacket-zh", "羽绒服", {"down_jacket"}, 8, DOWN_JACKETS, of_kind("down_vest")),
    Expect("down-jacket", "down jacket", {"down_jacket"}, 8, DOWN_JACKETS),
    Expect("nike-zh", "耐克", {"nike_shoes", "clothes", "shoes"}, 9, NIKE),
    Expect("nike", "nike", {"nike_shoes", "clothes", "shoes"}, 9, NIKE),
    Expect("adidas-short", "阿迪", {"shoes", "clothes", "ball"}, 4, titled("阿迪达斯")),
    # Furniture, baby, instruments.
    Expect("ikea-desk", "宜家 书桌", {"desk"}, 3, titled("宜家", kind="desk")),
    Expect("stroller", "婴儿车", {"stroller"}, 3, of_kind("stroller")),
    Expect("guitar", "吉他", {"guitar"}, 4, of_kind("guitar")),
]


@pytest.mark.parametrize("expect", RANKING, ids=[e.name for e in RANKING])
def test_each_query_ranks_what_a_shopper_expects_first_and_finds_everything_they_would_expect(
    catalog: CatalogIndex, expect: Expect
) -> None:
    found = search(catalog, expect.q)
    shown = describe(found[: max(expect.top, len(expect.first), 1) + 2])
    assert len(found) >= expect.top, shown
    assert all(KIND[item_id] in expect.kinds for item_id in found[: expect.top]), shown
    assert not expect.finds - set(found), describe(sorted(expect.finds - set(found)))
    assert not expect.misses & set(found), describe(sorted(expect.misses & set(found)))
    assert tuple(found[: len(expect.first)]) == expect.first, shown


def test_iphones_rank_ahead_of_their_cases_and_chargers(catalog: CatalogIndex) -> None:
    """A query that names no accessory ranks the listings whose title names none first (ACCESSORY_WORDS): a case
    holds 手机 in its title (手机壳 is cut into 手机 + 壳), an iPhone often only as a synonym."""
    for q in ("苹果手机", "手机"):
        found = search(catalog, q)
        accessories = [n for n, item_id in enumerate(found) if KIND[item_id].startswith("phone_")]
        iphones = [n for n, item_id in enumerate(found) if KIND[item_id] == "iphone"]
        assert accessories and iphones and max(iphones) < min(accessories), describe(found)


def test_the_phone_category_filter_leaves_only_the_phones(catalog: CatalogIndex) -> None:
    assert set(search(catalog, "苹果手机", category="手机")) == of_kind("iphone")
    found = search(catalog, "手机", category="手机")
    assert found and all(KIND[item_id] in PHONES for item_id in found)


@pytest.mark.parametrize(
    "q",
    [
        "特斯拉",  # a word no listing holds
        "，。！",  # punctuation only
        "？？？ ……",
        "   ",
        "qwzxkj",  # Latin gibberish
        "三体 耐克",  # both words are in the corpus, never in one listing
        "iphone 单车",
        "kindle 99新 全新",
    ],
    ids=[
        "absent-word",
        "punctuation",
        "cjk-punctuation",
        "spaces",
        "gibberish",
        "no-listing-has-both",
        "iphone-bike",
        "kindle-new-and-used",
    ],
)
def test_queries_that_must_find_nothing(catalog: CatalogIndex, q: str) -> None:
    for sort in (None, "newest", "price_asc"):
        assert catalog.search(CatalogQuery(q=q, sort=sort)) == ([], None)


def test_searching_a_listings_own_title_finds_it_near_the_top(catalog: CatalogIndex) -> None:
    for item in ITEMS:
        found = search(catalog, item.title)
        assert item.item_id in found[:3], (item.title, describe(found[:3]))


# ------------------------------------------------------------------------------------------ filters with a query


@pytest.mark.parametrize(
    ("q", "filters", "keep"),
    [
        ("iphone", {"city": "上海"}, lambda item: item.city == "上海"),
        ("自行车", {"max_price_fen": 100_000}, lambda item: item.price_fen <= 100_000),
        ("相机", {"min_price_fen": 400_000, "max_price_fen": 900_000}, lambda i: 400_000 <= i.price_fen <= 900_000),
        ("羽绒服", {"category": "服饰", "condition": "new"}, lambda item: item.condition == "new"),
        ("耐克", {"category": "鞋"}, lambda item: item.category == "鞋"),
        ("九成新", {"city": "深圳", "category": "手机"}, lambda item: item.city == "深圳" and item.category == "手机"),
    ],
    ids=["city", "max-price", "price-range", "category-condition", "category", "city-category"],
)
def test_filters_keep_the_matching_results_in_their_relevance_order(
    catalog: CatalogIndex, q: str, filters: dict[str, Any], keep: Any
) -> None:
    everything = search(catalog, q)
    filtered = search(catalog, q, **filters)
    assert filtered and len(filtered) < len(everything)
    assert filtered == [item_id for item_id in everything if keep(BY_ID[item_id])]


def test_a_seller_filter_with_a_query_finds_only_that_sellers_matches(catalog: CatalogIndex) -> None:
    seller = BY_ID[one("捷安特 ATX 610")].seller_id
    mine = {item.item_id for item in ITEMS if item.seller_id == seller}
    assert search(catalog, seller_id=seller) == sorted(mine)  # newest first is id order in the corpus
    assert set(search(catalog, "捷安特", seller_id=seller)) == mine & set(search(catalog, "捷安特"))


# ------------------------------------------------------------------------------------------------------ sorting


@pytest.mark.parametrize(
    ("q", "sort", "key", "reverse"),
    [
        ("iphone", "price_asc", "price_fen", False),
        ("自行车", "price_desc", "price_fen", True),
        ("三体", "newest", "published_at", True),
        (None, "newest", "published_at", True),
        (None, "price_asc", "price_fen", False),
    ],
    ids=["iphone-price-asc", "bike-price-desc", "three-body-newest", "all-newest", "all-price-asc"],
)
def test_a_sort_orders_the_same_results_by_its_key(
    catalog: CatalogIndex, q: str | None, sort: str, key: str, reverse: bool
) -> None:
    found = search(catalog, q, sort=sort)
    values = [getattr(BY_ID[item_id], key) for item_id in found]
    assert values == sorted(values, reverse=reverse)
    assert set(found) == set(search(catalog, q) if q else BY_ID)


def test_price_sorts_with_a_query_put_the_cheapest_and_dearest_match_first(catalog: CatalogIndex) -> None:
    assert search(catalog, "iphone", sort="price_asc")[0] == one("iPhone 15 钢化膜")
    assert search(catalog, "自行车", sort="price_desc")[0] == one("Brompton")
    assert search(catalog, "iphone 13", sort="price_desc")[0] == one("iPhone 13 Pro 256G 国行")


def test_without_a_query_the_catalog_is_newest_first(catalog: CatalogIndex) -> None:
    cards, cursor = catalog.search(CatalogQuery(limit=3))
    assert [card.item_id for card in cards] == ["itm_c001", "itm_c002", "itm_c003"] and cursor
    assert cards[0].shop_id == ITEMS[0].shop_id and cards[0].data["title"] == ITEMS[0].title


# ----------------------------------------------------------------------------------------------- index behaviour


def changed(item_id: str, **update: Any) -> Item:
    return BY_ID[item_id].model_copy(update=update)


async def test_a_repriced_item_moves_in_price_order() -> None:
    index = fresh()
    phone = one("九成新 小米 12")
    before = search(index, "小米", sort="price_asc")
    assert before.index(phone) > 0
    index.put(changed(phone, price_fen=1_00), seq=2)
    assert search(index, "小米", sort="price_asc") == before  # nothing moves before the flush
    assert await index.flush() == 1
    cheapest = search(index, "小米", sort="price_asc")
    assert cheapest[0] == phone and sorted(cheapest) == sorted(before)
    index.put(changed(phone, price_fen=99_999_00), seq=3)
    await index.flush()
    assert search(index, "小米", sort="price_asc")[-1] == phone
    assert search(index, "小米", sort="price_desc")[0] == phone
    cards, _ = index.search(CatalogQuery(q="小米 12", limit=1))
    assert cards[0].data["price_fen"] == 99_999_00


async def test_a_put_at_an_earlier_or_equal_seq_is_ignored() -> None:
    index = fresh()
    kindle = one("Kindle Paperwhite 3")
    index.put(changed(kindle, price_fen=300_00), seq=5)
    await index.flush()
    index.put(changed(kindle, price_fen=1_00), seq=4)
    index.put(changed(kindle, price_fen=2_00), seq=5)
    index.put(changed(kindle, status="sold"), seq=1)
    assert index.pending == 0 and await index.flush() == 0
    # Queued writes keep the latest too.
    index.put(changed(kindle, price_fen=400_00), seq=8)
    index.put(changed(kindle, price_fen=3_00), seq=7)
    await index.flush()
    cards, _ = index.search(CatalogQuery(q="kindle paperwhite 3"))
    assert [(card.item_id, card.data["price_fen"]) for card in cards] == [(kindle, 400_00)]


@pytest.mark.parametrize("status", ["reserved", "sold", "withdrawn", "draft"])
async def test_an_item_no_longer_on_sale_disappears_after_the_flush(status: str) -> None:
    index = fresh()
    bike = one("捷安特 ATX 830")
    index.put(changed(bike, status=status), seq=2)
    # A removal queued in this replica is left out at once (an order just placed here), before its commit.
    assert bike not in search(index, "捷安特 ATX")
    await index.flush()
    for q in ("捷安特 ATX", "自行车", "单车", None):
        assert bike not in search(index, q)
    assert len(search(index)) == len(ITEMS) - 1
    index.put(changed(bike, status="on_sale"), seq=3)  # released, or published again
    await index.flush()
    assert bike in search(index, "捷安特 ATX")


def test_a_rebuild_replaces_everything_and_skips_items_not_on_sale() -> None:
    index = fresh()
    books = [item for item in ITEMS if item.category == "图书"]
    sold = books[0].model_copy(update={"status": "sold"})
    assert index.rebuild([(sold, 1)] + [(item, 1) for item in books[1:]]) == len(books) - 1
    assert set(search(index)) == {item.item_id for item in books[1:]}
    assert search(index, "iphone") == []


async def test_a_rebuild_from_a_read_keeps_only_the_queued_writes_newer_than_what_was_read() -> None:
    index = fresh()
    first, second = ITEMS[0].item_id, ITEMS[1].item_id
    index.put(changed(first, status="sold"), seq=2)  # queued before the read, which has a later state

    async def read() -> list[tuple[Item, int]]:
        index.put(changed(second, status="sold"), seq=5)  # while the projection is read: later than what it gives
        return [(changed(first, status="on_sale"), 3), *((item, 1) for item in ITEMS[1:])]

    assert await index.rebuild_from(read) == len(ITEMS)
    assert index.pending == 1  # the older write is dropped, not applied over the read
    assert first in search(index) and second not in search(index)  # the newer one hides its item until flushed
    await index.flush()
    assert first in search(index) and second not in search(index)


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "newest"},
        {"sort": "price_asc"},
        {"sort": "price_desc"},
        {"q": "自行车", "sort": "price_asc"},
        {"q": "iphone", "sort": "newest"},
        {"q": "iphone"},  # relevance
        {"q": "九成新"},
    ],
)
@pytest.mark.parametrize("limit", [1, 7, 20])
def test_pages_cover_the_results_once_each(catalog: CatalogIndex, query: dict[str, Any], limit: int) -> None:
    got = pages(catalog, limit, **query)
    flat = [item_id for page in got for item_id in page]
    assert flat == search(catalog, **query)
    assert len(flat) == len(set(flat))
    assert all(len(page) == limit for page in got[:-1]) and 0 < len(got[-1]) <= limit


def test_keyset_pages_break_ties_between_equal_prices_and_times() -> None:
    index = CatalogIndex(None)
    same = [
        ITEMS[n].model_copy(update={"price_fen": 100_00, "published_at": T0})
        for n in range(0, len(ITEMS), 10)  # 30 items, one price, one time
    ]
    index.rebuild((item, 1) for item in same)
    for sort in ("newest", "price_asc", "price_desc"):
        flat = [item_id for page in pages(index, 4, sort=sort) for item_id in page]
        assert sorted(flat) == sorted(item.item_id for item in same), sort


@pytest.mark.parametrize(("sort", "q"), [("newest", None), ("newest", "iphone"), ("price_asc", None)])
async def test_keyset_pages_stay_right_while_items_are_added_and_removed(sort: str, q: str | None) -> None:
    index = fresh()
    cards, cursor = index.search(CatalogQuery(q=q, sort=sort, limit=10))
    seen = [card.item_id for card in cards]
    before = search(index, q, sort=sort)
    ahead = before[10:]
    # Between pages: newer listings arrive (before the cursor, or, in price order, on both sides of it), one item
    # already shown and two not yet shown are sold.
    newcomers = [
        ITEMS[n].model_copy(
            update={
                "item_id": f"itm_new{n}",
                "published_at": T0 + timedelta(minutes=n + 1),
                "price_fen": 1_00 if n % 2 else 99_999_00,
            }
        )
        for n in range(4)
    ]
    for item in newcomers:
        index.put(item, seq=1)
    gone = {seen[3], ahead[0], ahead[len(ahead) // 2]}
    for item_id in gone:
        index.put(changed(item_id, status="sold"), seq=2)
    await index.flush()
    rest: list[str] = []
    while cursor is not None:
        cards, cursor = index.search(CatalogQuery(q=q, sort=sort, limit=10, cursor=cursor))
        rest.extend(card.item_id for card in cards)
    after = search(index, q, sort=sort)
    assert len(seen + rest) == len(set(seen + rest))  # no duplicates
    assert [item_id for item_id in ahead if item_id not in gone] == [x for x in rest if not x.startswith("itm_new")]
    # A newcomer shows on the later pages exactly when it sorts after the cursor: never when newest first (they are
    # all newer than the first page), the two dear ones in price order.
    shown_new = {x for x in rest if x.startswith("itm_new")}
    assert shown_new == {x for x in after[after.index(seen[-1]) + 1 :] if x.startswith("itm_new")}
    assert shown_new == ({"itm_new0", "itm_new2"} if sort == "price_asc" else set())


def test_relevance_pages_continue_by_offset(catalog: CatalogIndex) -> None:
    everything = search(catalog, "自行车")
    cards, cursor = catalog.search(CatalogQuery(q="自行车", limit=5))
    assert [card.item_id for card in cards] == everything[:5]
    assert cursor and decode_cursor(cursor, "relevance") == (5, everything[4])
    cards, cursor = catalog.search(CatalogQuery(q="自行车", limit=5, cursor=cursor))
    assert [card.item_id for card in cards] == everything[5:10]
    assert cursor and decode_cursor(cursor, "relevance")[0] == 10


async def test_a_relevance_page_after_a_removal_shifts_by_the_removed_item() -> None:
    """Offsets are the documented price of relevance order: an item sold from an earlier page moves the rest up."""
    index = fresh()
    everything = search(index, "羽绒服")
    _, cursor = index.search(CatalogQuery(q="羽绒服", limit=3))
    index.put(changed(everything[0], status="sold"), seq=2)
    await index.flush()
    cards, _ = index.search(CatalogQuery(q="羽绒服", limit=3, cursor=cursor))
    assert [card.item_id for card in cards] == everything[4:7]


def test_a_cursor_from_another_sort_or_a_forged_one_is_refused(catalog: CatalogIndex) -> None:
    _, cursor = catalog.search(CatalogQuery(q="iphone", sort="price_asc", limit=2))
    assert cursor
    with pytest.raises(ValidationFailed):
        catalog.search(CatalogQuery(q="iphone", sort="newest", limit=2, cursor=cursor))
    with pytest.raises(ValidationFailed):
        catalog.search(CatalogQuery(q="iphone", limit=2, cursor="not-a-cursor"))
