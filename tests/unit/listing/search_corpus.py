"""A fixed corpus of second-hand listings for the search tests: Chinese text, with English brand and model names
where sellers write them, across phones, electronics, computers, books, bikes, clothes, shoes, furniture, baby
things, sports, instruments and home appliances.

Each listing carries a `kind` (what the thing is, decided here, not read from its text) so a test can ask "is every
laptop found by `laptop`?" without trusting the words the index is checking. Everything is deterministic: a fixed
seed picks cities, sellers and wording, ids run `itm_c001`, `itm_c002`, … in the order the listings are written, and
published times step back from T0 one listing at a time (the first listing is the newest).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.listing.domain import Condition, Item

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "武汉", "西安", "苏州")
SELLERS = tuple(f"usr_s{n:03d}" for n in range(1, 61))


@dataclass(frozen=True)
class Listing:
    kind: str
    category: str
    title: str
    description: str
    condition: Condition
    price_yuan: float


_rng = random.Random(20250301)
_listings: list[Listing] = []

# Sellers' words for each condition, and the condition a word means.
_WORDING: dict[Condition, tuple[str, ...]] = {
    "new": ("全新未拆封", "全新", "全新仅拆封"),
    "like_new": ("99新", "95新", "几乎全新"),
    "good": ("九成新", "9成新", "成色不错"),
    "fair": ("八成新", "有使用痕迹", "成色一般"),
}
_TRADE = ("同城可面交", "不议价，包邮", "可小刀", "走平台担保交易", "江浙沪包邮", "自提优先")


def _pick(options: tuple[str, ...] | list[str]) -> str:
    return options[_rng.randrange(len(options))]


def add(kind: str, category: str, title: str, description: str, condition: Condition, price_yuan: float) -> None:
    _listings.append(Listing(kind, category, title, description, condition, price_yuan))


# ------------------------------------------------------------------------------------------------------ 手机 (phones)

_PHONES: tuple[tuple[str, str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    # (model as sellers write it, kind, price in yuan of a 九成新 one, storages, colours)
    ("iPhone 13 Pro", "iphone", 4300, ("128G", "256G"), ("远峰蓝", "石墨色", "银色")),
    ("iPhone 13", "iphone", 3200, ("128G", "256G"), ("午夜色", "星光色", "粉色")),
    ("iPhone 13 mini", "iphone", 2600, ("128G",), ("绿色", "午夜色")),
    ("iPhone 14 Pro Max", "iphone", 6200, ("256G", "512G"), ("暗紫色", "深空黑")),
    ("iPhone 12", "iphone", 2300, ("64G", "128G"), ("白色", "蓝色")),
    ("iPhone 11", "iphone", 1500, ("64G", "128G"), ("黑色", "紫色")),
    ("iPhone 15", "iphone", 4800, ("128G", "256G"), ("蓝色", "黑色")),
    ("iPhone SE 3", "iphone", 1700, ("64G",), ("红色",)),
    ("华为 Mate 40 Pro", "huawei_phone", 3100, ("256G",), ("亮黑色", "釉白色")),
    ("华为 Mate 40", "huawei_phone", 2400, ("128G",), ("秘银色",)),
    ("华为 P50 Pro", "huawei_phone", 3300, ("256G",), ("可可茶金",)),
    ("华为 Mate 60 Pro", "huawei_phone", 5200, ("512G",), ("雅川青",)),
    ("小米 12", "xiaomi_phone", 1600, ("256G",), ("紫色", "蓝色")),
    ("小米 13 Ultra", "xiaomi_phone", 3900, ("512G",), ("橄榄绿",)),
    ("红米 K60", "xiaomi_phone", 1500, ("256G",), ("墨羽",)),
    ("OPPO Find X6", "android_phone", 2900, ("256G",), ("飞泉绿",)),
    ("vivo X90 Pro", "android_phone", 3000, ("256G",), ("原黑",)),
    ("荣耀 Magic5", "android_phone", 2100, ("256G",), ("亮黑色",)),
    ("三星 Galaxy S22", "android_phone", 1900, ("128G",), ("曜夜黑",)),
    ("一加 11", "android_phone", 2300, ("256G",), ("无尽黑",)),
)
_PHONE_TITLES = (
    "{cond} {model} {storage} {colour}",
    "自用 {model} {storage} 国行 {cond}",
    "{model} {colour} {storage} 换新机出",
    "出 {model} {storage}，{cond}，电池{battery}%",
)
_PHONE_REASONS = ("换了新手机", "公司发了新机", "备用机用不上了", "家里老人用不惯", "毕业了出闲置")
_PHONE_STATE: dict[Condition, tuple[str, ...]] = {
    "new": ("未激活，原封膜都在", "没开过机，保修还在"),
    "like_new": ("一直带壳贴膜使用，无磕碰无划痕", "面容指纹都正常，电池健康良好"),
    "good": ("屏幕完美，边框有轻微使用痕迹", "无拆无修，功能全部正常"),
    "fair": ("边框磕了一下，屏幕有细划痕", "换过电池，不影响使用"),
}
_PHONE_EXTRAS = ("配原装数据线", "盒子说明书都在", "只有裸机", "送一个钢化膜")
_PHONE_CONDITIONS: tuple[Condition, ...] = ("good", "like_new", "fair", "new", "good")
_PRICE_FACTOR = {"new": 1.25, "like_new": 1.1, "good": 1.0, "fair": 0.8}

for _n, (_model, _kind, _price, _storages, _colours) in enumerate(_PHONES):
    # The first seven models (the phones most listed) get three listings each, the rest one or two.
    for _i in range(3 if _n < 7 else 1 + _n % 2):
        _cond = _PHONE_CONDITIONS[(2 * _n + _i) % 5]
        _pattern = _PHONE_TITLES[(_n + _i) % 2 if _cond == "new" else (_n + _i) % 4]  # a new phone: no battery %
        _title = _pattern.format(
            cond=_pick(_WORDING[_cond]),
            model=_model,
            storage=_storages[_i % len(_storages)],
            colour=_colours[_i % len(_colours)],
            battery=_rng.randrange(82, 100),
        )
        _reason = "抽奖中的，用不上" if _cond == "new" else _pick(_PHONE_REASONS)
        _desc = f"{_reason}，{_pick(_PHONE_STATE[_cond])}。{_pick(_PHONE_EXTRAS)}。{_pick(_TRADE)}。"
        add(_kind, "手机", _title, _desc, _cond, round(_price * _PRICE_FACTOR[_cond]) - 10 * _i)

add("iphone", "手机", "苹果手机 XR 64G 白色 备用机", "一直当备用机，电池换过，能正常用微信。", "fair", 650)
add("iphone", "手机", "苹果 12 Pro Max 手机 256G 海蓝色", "国行在保，面容正常，带原装壳。", "good", 3900)
add("phone_elder", "手机", "老人机 大字大声 诺基亚 功能机", "给爷爷买的，他用不惯，待机很久。", "like_new", 99)
add("android_phone", "手机", "华为 nova 9 8+128G 备用机", "华为手机，成色一般，背面有划痕，系统流畅。", "fair", 850)

# Phone accessories (数码): a shopper looking for a phone wants these after the phones themselves.
add("phone_case", "数码", "iPhone 13 Pro 手机壳 全新两个", "买错型号了，透明硅胶款和磨砂黑款各一个。", "new", 25)
add("phone_case", "数码", "苹果13 硅胶手机壳 MagSafe 磁吸", "官方款，用了一个月，边角有点脏。", "good", 120)
add("phone_case", "数码", "适用苹果手机 iPhone 14 Pro Max 手机壳 防摔", "全新未拆，买多了。", "new", 19)
add("phone_case", "数码", "华为 Mate 40 Pro 手机壳 素皮", "原装素皮保护壳，九成新。", "good", 35)
add("phone_film", "数码", "iPhone 15 钢化膜 五片装", "剩五片没用，送贴膜神器。", "new", 15)
add("phone_charger", "数码", "苹果 20W 充电器 原装", "买手机送的，没怎么用过，适用 iPhone。", "like_new", 69)
add("phone_charger", "数码", "小米 67W 快充充电器 带线", "换手机后用不上了。", "good", 45)
add("power_bank", "数码", "Anker 充电宝 10000mAh 磁吸", "可以吸在手机背面，出门很方便。", "good", 99)

# ------------------------------------------------------------------------------------------- 数码 (electronics)

add(
    "airpods",
    "数码",
    "AirPods Pro 2 降噪耳机 国行",
    "苹果耳机，去年双十一买的，降噪正常，左右耳都没问题。",
    "like_new",
    1099,
)
add("airpods", "数码", "AirPods Pro 一代 九成新", "右耳偶尔有点杂音，介意勿拍，送硅胶保护套。", "good", 520)
add("airpods", "数码", "AirPods 3 无线耳机", "苹果原装，充电盒有细微划痕，电池续航正常。", "good", 699)
add("airpods", "数码", "airpods 二代 有线充电盒", "成色一般，能正常使用，适合当备用。", "fair", 260)
add("headphone", "数码", "索尼 WH-1000XM4 头戴降噪耳机 黑色", "索尼旗舰降噪，头梁无裂，耳罩换过新的。", "good", 1150)
add("headphone", "数码", "Bose QC45 降噪耳机 白色", "出差用的，包装都在，几乎全新。", "like_new", 1380)
add("headphone", "数码", "华为 FreeBuds Pro 2 蓝牙耳机", "华为手机用户首选，连接很稳。", "good", 480)
add("headphone", "数码", "森海塞尔 HD600 有线耳机 发烧", "HIFI 耳机，声音很好，线材完好。", "good", 1600)

add(
    "kindle",
    "数码",
    "九成新 Kindle Paperwhite 4 8G 黑色",
    "电子书阅读器，看书很护眼，屏幕无坏点，送保护套。",
    "good",
    420,
)
add("kindle", "数码", "Kindle Paperwhite 5 签名版 32G", "亚马逊 Kindle，支持无线充电，九成新，屏幕完美。", "good", 780)
add("kindle", "数码", "kindle oasis 3 金色 99新", "只看了几本书，电纸书翻页按键很好用。", "like_new", 1350)
add("kindle", "数码", "Kindle 青春版 558 入门款", "泡面盖，有使用痕迹，电池还行，九成新谈不上。", "fair", 180)
add("kindle", "数码", "Kindle Paperwhite 3 九成新", "老款 kindle，300ppi 屏幕，看漫画也清楚。", "good", 260)
add("kindle", "数码", "Kindle Paperwhite 4 32G 墨水屏 9成新", "边框有细小划痕，屏幕完好，电池能用两周。", "good", 450)
add("ereader", "数码", "掌阅 iReader Ocean 2 电纸书", "墨水屏阅读器，7 寸，有按键，九成新。", "good", 560)

add(
    "switch",
    "数码",
    "Switch OLED 日版 白色 续航版",
    "任天堂 Switch，屏幕无划痕，手柄不漂移，配原装底座。",
    "like_new",
    1650,
)
add("switch", "数码", "任天堂 Switch 国行 红蓝 续航版", "带三张卡带：塞尔达、马力欧赛车、动森。", "good", 1350)
add("switch", "数码", "switch lite 珊瑚色 掌机", "孩子不玩了，掌机小巧，九成新。", "good", 720)
add("switch", "数码", "NS switch oled 港版 喷射战士限定", "收藏向，几乎没怎么玩，盒说全。", "like_new", 1980)
add("switch_game", "数码", "Switch 健身环大冒险 全套", "健身环加卡带，减肥必备，用了一个月就吃灰了。", "good", 380)
add("switch_game", "数码", "switch 塞尔达传说 王国之泪 卡带", "通关了出，卡带无划痕。", "good", 260)
add("switch_game", "数码", "Switch Pro 手柄 原装", "任天堂原装 Pro 手柄，摇杆无漂移。", "good", 330)
add("console", "数码", "PS5 光驱版 国行 带两个手柄", "索尼 PS5，送战神和蜘蛛侠光盘。", "good", 2900)
add("console", "数码", "Xbox Series S 512G 白色", "微软主机，没怎么玩，接电视即用。", "like_new", 1500)

add("ipad", "数码", "iPad Air 5 64G WiFi 紫色", "平板电脑，带妙控键盘，屏幕贴了类纸膜。", "like_new", 3200)
add("ipad", "数码", "iPad mini 6 256G 星光色", "小巧便携，追剧看书都很好，九成新。", "good", 2900)
add("ipad", "数码", "iPad 第九代 64G 深空灰", "孩子上网课用的，有使用痕迹，功能正常。", "fair", 1300)
add("ipad", "数码", "iPad Pro 11 M2 128G 带 Apple Pencil", "苹果平板，画画用，笔和平板一起出。", "like_new", 5200)
add("tablet", "数码", "小米平板 6 8+256G 带键盘", "小米平板电脑，屏幕 144Hz，看视频很爽。", "good", 1500)
add("tablet", "数码", "华为 MatePad 11 平板", "华为平板电脑，学生党网课神器。", "good", 1200)

add("watch", "数码", "Apple Watch Series 8 45mm GPS", "苹果手表，表盘无划痕，送两根表带。", "good", 1700)
add("watch", "数码", "华为 Watch GT 3 智能手表", "续航两周，运动记录很准。", "good", 650)
add("band", "数码", "小米手环 8 NFC 版", "基本全新，换了手表用不上。", "like_new", 170)

add("camera", "数码", "索尼 A7M3 全画幅微单相机 单机身", "快门 2 万次，无进灰，送两块电池。", "good", 8200)
add("camera", "数码", "索尼 A7M3 + 28-70 套机", "新手入门全画幅相机，九成新，配相机包。", "good", 9100)
add("camera", "数码", "佳能 EOS R6 微单 相机 单机", "佳能全画幅，快门 1 万出头，成色很好。", "like_new", 11800)
add("camera", "数码", "佳能 200D 二代 单反相机 18-55 套机", "入门单反，白色，适合拍娃拍风景。", "good", 2800)
add("camera", "数码", "富士 X-T30 银色 微单相机", "富士色彩直出，配 15-45 镜头。", "good", 4300)
add("camera", "数码", "尼康 Z6 全画幅 微单", "尼康相机，单机身，快门 3 万。", "fair", 5600)
add("camera", "数码", "理光 GR3 街拍相机", "扫街神器，卡片机，镜头无灰。", "like_new", 6300)
add("camera", "数码", "富士 拍立得 instax mini 12 粉色", "送两盒相纸，拍立得相机。", "like_new", 390)
add("camera", "数码", "GoPro Hero 11 运动相机", "骑行滑雪用的，配三个电池。", "good", 1900)
add("lens", "数码", "腾龙 28-75 F2.8 二代 索尼E口 镜头", "索尼全画幅挂机头，成像锐利，无霉无雾。", "good", 4600)
add("lens", "数码", "佳能 50mm F1.8 小痰盂 定焦镜头", "人像入门镜头，九成新。", "good", 450)
add("camera_bag", "数码", "相机包 单肩 摄影包", "能装一机两镜，用了半年。", "good", 80)
add("drone", "数码", "大疆 Mini 3 Pro 无人机 带屏遥控", "大疆航拍，飞了十几次，无炸机。", "like_new", 3900)
add("camera", "数码", "大疆 Osmo Pocket 3 口袋云台相机", "vlog 神器，全套配件。", "like_new", 3200)

add("keyboard", "数码", "Cherry MX 3.0 机械键盘 红轴", "樱桃原厂轴，键帽有点打油。", "good", 350)
add("mouse", "数码", "罗技 MX Master 3 无线鼠标", "办公神器，用了一年，功能正常。", "good", 390)
add("storage", "数码", "三星 T7 移动硬盘 1T", "固态移动硬盘，读写很快。", "like_new", 520)
add("projector", "数码", "极米 H3S 投影仪 家用", "搬家出，灯泡时长 800 小时。", "good", 2600)
add("speaker", "数码", "Marshall Emberton 蓝牙音箱", "马歇尔小音箱，声音很好。", "good", 680)

# ----------------------------------------------------------------------------------------------- 电脑 (computers)

add("laptop", "电脑", "MacBook Air M1 8+256G 深空灰", "苹果笔记本，电池循环 120 次，外观无磕碰，国行。", "good", 4100)
add("laptop", "电脑", "MacBook Air M1 16+512 金色 九成新", "苹果 M1 笔记本电脑，续航很长，适合学生。", "good", 5200)
add("laptop", "电脑", "苹果 MacBook Air M2 午夜色 13.6 寸", "轻薄笔记本，2023 年买的，带原装充电器。", "like_new", 6300)
add("laptop", "电脑", "MacBook Pro 14 M1 Pro 16G 512G", "苹果笔记本，剪视频很流畅，屏幕完美。", "good", 8600)
add("laptop", "电脑", "MacBook Pro 2019 15寸 i7 16G", "英特尔款，电池有点衰减，办公够用的笔记本。", "fair", 3900)
add("laptop", "电脑", "联想 小新 Pro 14 笔记本电脑 R7", "联想笔记本，2.8K 屏，学生党办公首选。", "good", 3300)
add("laptop", "电脑", "联想 拯救者 Y9000P RTX 3060 游戏本", "游戏笔记本，玩 3A 大作无压力，散热正常。", "good", 5600)
add("laptop", "电脑", "ThinkPad X1 Carbon 2020 i7 16G", "商务笔记本，键盘手感很好，有使用痕迹。", "fair", 3800)
add("laptop", "电脑", "ThinkPad T480 i5 8G 256G", "经典商务本，笔记本换过新电池。", "fair", 1500)
add("laptop", "电脑", "华为 MateBook 14 i5 16G 触屏", "华为笔记本，多屏协同很方便，九成新。", "good", 3600)
add("laptop", "电脑", "小米 笔记本 Pro 15 OLED", "小米笔记本电脑，屏幕很好，带原装充电器。", "good", 3900)
add("laptop", "电脑", "戴尔 XPS 13 9310 i7", "轻薄笔记本电脑，4K 触屏，外观无划痕。", "like_new", 4700)
add("laptop", "电脑", "惠普 战66 五代 14寸 笔记本", "公司淘汰下来的，办公本，正常使用。", "fair", 1900)
add("laptop", "电脑", "华硕 天选4 游戏本 RTX 4060", "华硕游戏笔记本，全新仅拆封，换了台式机。", "new", 6900)
add("laptop", "电脑", "ROG 幻14 2022 笔记本电脑", "玩家国度轻薄游戏本，带原装包。", "good", 6100)
add("desktop", "电脑", "iMac 24寸 M1 蓝色 8+256", "苹果一体机，屏幕很漂亮。", "good", 5800)
add("desktop", "电脑", "Mac mini M2 8+256 迷你主机", "苹果电脑主机，接显示器就能用。", "like_new", 3300)
add("desktop", "电脑", "组装台式机 i5-12400F RTX 3060 主机", "游戏主机，水冷，16G 内存，1T 固态。", "good", 3600)
add("monitor", "电脑", "戴尔 U2723QE 4K 显示器 27寸", "办公显示器，无坏点，带 Type-C 一线连。", "like_new", 2900)
add("monitor", "电脑", "小米 显示器 34寸 带鱼屏", "曲面屏，玩游戏很爽。", "good", 1400)
add("gpu", "电脑", "技嘉 RTX 3070 显卡 魔鹰", "个人自用，无矿，保修还有半年。", "good", 2100)
add("laptop_bag", "电脑", "笔记本电脑包 14寸 内胆包", "适用 MacBook Air，灰色，几乎没用。", "like_new", 39)
add("laptop_stand", "电脑", "笔记本支架 铝合金 可折叠", "散热好，颈椎友好。", "like_new", 45)

# ------------------------------------------------------------------------------------------------ 图书 (books)

add("santi", "图书", "《三体》全集 刘慈欣 三册 正版", "三体一二三全套，只看过一遍，无笔记无折痕。", "like_new", 68)
add("santi", "图书", "三体 全套3册 典藏版 精装", "刘慈欣科幻小说，精装典藏，书脊完好。", "like_new", 120)
add("santi", "图书", "三体2 黑暗森林 单本", "平装，书角有点磨损。", "fair", 12)
add("santi", "图书", "三体 英文版 The Three-Body Problem", "刘宇昆译本，英文原版平装。", "good", 55)
add("scifi", "图书", "刘慈欣 球状闪电 科幻小说", "九成新，一次性读完的好书。", "good", 18)
add("scifi", "图书", "流浪地球 刘慈欣 短篇小说集", "书页泛黄，不影响阅读。", "fair", 10)
add("kaoyan", "图书", "考研英语 真题 黄皮书 2025 英语一", "张剑黄皮书，做了前五年，后面全新。", "good", 35)
add("kaoyan", "图书", "2025 考研英语二 真题 详解", "上岸了出，笔记很少。", "good", 28)
add("kaoyan", "图书", "考研英语 词汇 恋练有词 朱伟", "背单词必备，有划线。", "fair", 15)
add("kaoyan", "图书", "考研数学 张宇 基础 30 讲 全套", "数学一，做过前几章。", "good", 40)
add("kaoyan", "图书", "肖秀荣 考研政治 1000 题 全新", "买重了，没拆封。", "new", 30)
add("exam", "图书", "英语四六级 真题 试卷 全套", "大学英语四级六级真题，只写了两套。", "good", 20)
add("exam", "图书", "雅思 剑桥真题 4-18 全套", "IELTS 备考资料，部分有笔迹。", "good", 150)
add("exam", "图书", "教师资格证 考试 教材 全套 中学", "考过了，教材加真题。", "good", 45)
add("exam", "图书", "注会 CPA 教材 2024 会计 审计 税法", "官方教材六本，有笔记。", "fair", 90)
add("novel", "图书", "百年孤独 马尔克斯 精装", "南海出版，品相很好。", "like_new", 25)
add("novel", "图书", "活着 余华 作家出版社", "经典小说，九成新。", "good", 12)
add("novel", "图书", "红楼梦 人民文学出版社 上下册", "四大名著之一，书页干净。", "good", 30)
add("novel", "图书", "哈利波特 英文原版 全集 7 册 礼盒装", "Harry Potter 全套，盒子有压痕。", "good", 320)
add("novel", "图书", "明朝那些事儿 全套 9 册", "当年明月，历史读物，看过一遍。", "good", 80)
add("nonfiction", "图书", "人类简史 尤瓦尔 赫拉利", "中信出版，有少量划线。", "good", 20)
add("cs_book", "图书", "算法导论 第三版 中文版", "计算机经典教材，书很厚，九成新。", "good", 60)
add("cs_book", "图书", "深入理解计算机系统 CSAPP 第三版", "计算机专业必读，有少量笔记。", "good", 70)
add("cs_book", "图书", "Python 编程 从入门到实践 第二版", "入门好书，代码示例都能跑。", "like_new", 35)
add("textbook", "图书", "高等数学 同济第七版 上下册", "大一教材，有笔记和划线。", "fair", 15)
add("textbook", "图书", "C 程序设计 谭浩强 第五版", "大学教材，附习题解答。", "fair", 10)
add("comic", "图书", "海贼王 漫画 1-60 卷", "尾田荣一郎，单行本，部分有黄斑。", "fair", 260)
add("comic", "图书", "鬼灭之刃 漫画 全套 23 册", "中文版全集，品相好。", "like_new", 300)
add("kids_book", "图书", "小王子 中英双语 绘本", "孩子看过，无破损。", "good", 15)
add("kids_book", "图书", "儿童绘本 50 本 3-6 岁", "睡前故事，整套打包出。", "good", 99)
add("stationery", "图书", "国誉 活页笔记本 B5 全新五本", "文具，买多了，笔记本内页 80 张。", "new", 45)

# --------------------------------------------------------------------------------------------- 自行车 (bicycles)

add(
    "mountain_bike",
    "自行车",
    "捷安特 ATX 610 山地车 27 速",
    "捷安特山地自行车，车架无伤，刹车变速都调过。",
    "good",
    1500,
)
add("mountain_bike", "自行车", "捷安特 ATX 830 山地车 油碟 九成新", "骑了一年，通勤郊游都很好。", "good", 2100)
add("mountain_bike", "自行车", "捷安特 ATX 720 禧玛诺变速 山地车", "车况好，轮胎换过新的，可试骑。", "like_new", 1800)
add("mountain_bike", "自行车", "喜德盛 英雄 300 山地自行车", "学生上学骑的，有使用痕迹。", "fair", 650)
add("mountain_bike", "自行车", "美利达 勇士 500 山地车 26 寸", "美利达山地车，骑行不多，送码表。", "good", 1300)
add("mountain_bike", "自行车", "迪卡侬 ST100 山地车 入门", "迪卡侬自行车，适合新手。", "good", 700)
add("road_bike", "自行车", "迪卡侬 公路车 RC120 入门款", "迪卡侬公路自行车，骑了几百公里，车况很好。", "like_new", 1350)
add("road_bike", "自行车", "迪卡侬 Triban RC520 碟刹 公路车", "105 套件，适合长途，轮组保养过。", "good", 4300)
add("road_bike", "自行车", "捷安特 TCR SL2 公路车 碳纤维", "捷安特碳架公路车，轻量化，骑行俱乐部换车出。", "good", 7200)
add("road_bike", "自行车", "美利达 斯特拉 公路自行车", "铝架公路车，二手自用。", "fair", 1900)
add("road_bike", "自行车", "闪电 Specialized Allez 公路车", "美国闪电入门铝架。", "good", 3800)
add("city_bike", "自行车", "崔克 FX3 城市车 平把公路", "崔克自行车，通勤神器，碟刹。", "like_new", 3500)
add("folding_bike", "自行车", "大行 P8 折叠自行车 20 寸", "大行折叠车，能放后备箱，八速。", "good", 1600)
add("folding_bike", "自行车", "小布 Brompton C Line 折叠车", "英国小布，折叠后很小，地铁随身带。", "like_new", 9800)
add("city_bike", "自行车", "永久 复古 自行车 28 寸 二八大杠", "老式永久自行车，怀旧收藏。", "fair", 400)
add("city_bike", "自行车", "凤凰 女士 通勤 单车 带车筐", "凤凰自行车，买菜上班都方便。", "good", 300)
add("kids_bike", "自行车", "儿童自行车 16 寸 带辅助轮", "孩子长大了骑不下了，粉色。", "good", 150)
add("fixed_gear", "自行车", "死飞 单车 彩色 轮组", "年轻人的玩具，刹车已装。", "fair", 500)
add("bike_lock", "自行车", "自行车锁 U型锁 防盗", "配两把钥匙，锁自行车很牢。", "good", 40)
add("bike_part", "自行车", "禧玛诺 105 套件 拆车件", "公路车升级换下来的。", "good", 900)
add("ebike", "自行车", "雅迪 电动车 48V 新国标", "电动自行车，续航 50 公里，有牌照。", "good", 1200)

# ---------------------------------------------------------------------------------------------- 服饰 (clothes)

_DOWN_JACKETS = (
    ("优衣库 轻型羽绒服 女款 M 码 黑色", "优衣库", 199),
    ("优衣库 羽绒服 男款 L 码 连帽", "优衣库", 299),
    ("优衣库 高级轻型 羽绒背心", "优衣库", 129),
    ("波司登 长款羽绒服 女 165", "波司登", 520),
    ("波司登 极寒系列 羽绒服 男 XL", "波司登", 780),
    ("北面 1996 羽绒服 The North Face 黑色 L", "北面", 1150),
    ("加拿大鹅 远征 派克大衣 羽绒服", "加拿大鹅", 4800),
    ("始祖鸟 Cerium 轻量羽绒服 男 M", "始祖鸟", 2600),
)
_DOWN_DESCRIPTIONS = (
    "{brand}的羽绒服，穿了一个冬天，已干洗，无破损。",
    "买大了一码，只试穿过，吊牌还在。",
    "很保暖，充绒量足，袖口有点轻微起球。",
    "搬家清理衣柜，九成新，正品有小票。",
)
_DOWN_CONDITIONS: tuple[Condition, ...] = ("good", "new", "fair", "good")  # matching the descriptions above
for _i, (_title, _brand, _price) in enumerate(_DOWN_JACKETS):
    _cond = _DOWN_CONDITIONS[_i % 4]
    add(
        "down_vest" if "背心" in _title else "down_jacket",
        "服饰",
        _title,
        _DOWN_DESCRIPTIONS[_i % 4].format(brand=_brand),
        _cond,
        _price,
    )
add(
    "down_jacket",
    "服饰",
    "Uniqlo ultra light down jacket 男 S",
    "日本买的，轻薄便携，可以收纳成一个小包。",
    "good",
    180,
)

add("coat", "服饰", "优衣库 摇粒绒 外套 男 L", "抓绒外套，很暖和。", "good", 59)
add("coat", "服饰", "始祖鸟 Beta LT 冲锋衣 男款", "防水很好，户外徒步用过几次。", "like_new", 2900)
add("coat", "服饰", "ZARA 羊毛大衣 女款 驼色 S", "版型很好，穿过两次。", "like_new", 260)
add("coat", "服饰", "Patagonia 巴塔哥尼亚 抓绒 夹克", "户外经典款，九成新。", "good", 450)
add("coat", "服饰", "李宁 卫衣 连帽 男 XL 灰色", "李宁中国风系列，洗过几次。", "good", 89)
add("clothes", "服饰", "优衣库 U系列 纯棉 T恤 三件", "基础款白黑灰各一件，穿过几次。", "good", 49)
add("clothes", "服饰", "耐克 Nike 运动套装 男 L", "耐克卫衣加卫裤，跑步健身穿。", "good", 160)
add("clothes", "服饰", "阿迪达斯 三叶草 运动外套", "经典三条杠，XL 码，九成新。", "good", 180)
add("clothes", "服饰", "Levi's 501 牛仔裤 男 32 码", "李维斯经典直筒，洗过一次。", "like_new", 220)
add("clothes", "服饰", "汉服 明制 马面裙 套装", "拍照穿过一次，配饰齐全。", "like_new", 360)
add("clothes", "服饰", "婚纱 拖尾 白色 S 码", "婚礼穿过一次，已干洗，带头纱。", "good", 900)
add("clothes", "服饰", "羊绒衫 女 圆领 米白色", "鄂尔多斯，100% 羊绒，手洗过。", "good", 320)
add("clothes", "服饰", "西装 套装 男 商务 藏青色 175", "面试买的，只穿过两次。", "like_new", 280)
add("clothes", "服饰", "旗袍 改良款 真丝 M", "年会穿过一次，很显身材。", "like_new", 200)
add("bag", "服饰", "蔻驰 Coach 托特包 棕色", "专柜购入，五金无划痕。", "good", 850)

# ------------------------------------------------------------------------------------------------- 鞋 (shoes)

_NIKE_SHOES: tuple[tuple[str, Condition, int], ...] = (
    ("耐克 Air Force 1 空军一号 纯白 42", "good", 420),
    ("Nike Air Force 1 Low 白色 40.5 全新", "new", 650),
    ("耐克 AF1 空军一号 黑色 43 码", "fair", 260),
    ("耐克 Air Jordan 1 芝加哥 42.5", "good", 1500),
    ("Nike Dunk Low 熊猫 黑白 41", "like_new", 560),
    ("耐克 Pegasus 40 飞马 跑鞋 男 42", "good", 380),
    ("耐克 Air Max 90 复古跑鞋 39", "fair", 280),
)
_SHOE_DESCRIPTIONS = (
    "正品，穿过几次，鞋底磨损很少，带原盒。",
    "买小了一码，只试穿过，鞋盒吊牌都在。",
    "日常穿，有褶皱，已清洗干净。",
)
for _i, (_title, _cond, _price) in enumerate(_NIKE_SHOES):
    add("nike_shoes", "鞋", _title, _SHOE_DESCRIPTIONS[_i % 3], _cond, _price)

add("shoes", "鞋", "阿迪达斯 Yeezy 350 斑马 42", "正品有鉴定证书，穿过三次。", "like_new", 1300)
add("shoes", "鞋", "阿迪达斯 Samba 德训鞋 白绿 38", "今年很火的款，买大了。", "like_new", 520)
add("shoes", "鞋", "新百伦 New Balance 574 灰色 40", "NB 经典款，复古好搭。", "good", 260)
add("shoes", "鞋", "新百伦 990v5 美产 42.5", "美产 NB，走路很舒服。", "good", 900)
add("shoes", "鞋", "匡威 1970s 高帮 黑色 39", "帆布鞋，穿过几次。", "good", 230)
add("shoes", "鞋", "Vans 万斯 Old Skool 黑白 41", "经典板鞋，鞋底有磨损。", "fair", 150)
add("shoes", "鞋", "亚瑟士 Asics Gel-Kayano 29 跑鞋", "稳定支撑跑鞋，跑了 200 公里。", "good", 450)
add("shoes", "鞋", "李宁 韦德之道 10 篮球鞋 44", "实战穿过几场，抓地很好。", "good", 600)
add("shoes", "鞋", "安踏 KT8 篮球鞋 43", "汤普森签名鞋，九成新。", "good", 450)
add("shoes", "鞋", "Dr.Martens 马丁靴 1460 八孔 38", "经典八孔，已经穿软了。", "good", 480)
add("shoes", "鞋", "UGG 雪地靴 短款 栗色 37", "冬天穿的，很暖和。", "good", 300)
add("shoes", "鞋", "高跟鞋 女 尖头 细跟 36 码", "婚礼伴娘穿过一次。", "like_new", 90)
add("shoes", "鞋", "耐克 鞋盒 收纳 十个", "鞋盒，收纳用，不是鞋子。", "good", 20)

# ----------------------------------------------------------------------------------------------- 家具 (furniture)

add("desk", "家具", "宜家 书桌 LINNMON 白色 120x60", "宜家桌子，桌面无划痕，需要自提。", "good", 150)
add("desk", "家具", "宜家 MICKE 书桌 带抽屉", "学生书桌，搬家出，可拆装。", "good", 220)
add("desk", "家具", "宜家 ALEX 书桌 白色", "抽屉顺滑，桌面有轻微使用痕迹。", "fair", 350)
add("desk", "家具", "乐歌 电动升降桌 E2 1.4 米", "升降书桌，站着办公，电机正常。", "like_new", 1100)
add("desk", "家具", "实木 电脑桌 1.2 米 胡桃色", "实木桌子，很稳。", "good", 300)
add("shelf", "家具", "宜家 BILLY 毕利 书架 白色", "书柜，自提，已拆好。", "good", 180)
add("sofa", "家具", "宜家 KIVIK 三人沙发 灰色", "布艺沙发，套子可拆洗。", "good", 900)
add("bed", "家具", "宜家 MALM 床架 1.5 米", "床架不含床垫，自提。", "good", 600)
add("chair", "家具", "西昊 人体工学椅 M57", "办公椅，久坐不累，九成新。", "good", 380)
add("chair", "家具", "Herman Miller Aeron 赫曼米勒 办公椅", "正品，B 码，网面完好。", "good", 5200)
add("chair", "家具", "宜家 POÄNG 波昂 扶手椅", "休闲椅，坐垫很舒服。", "good", 350)
add("table", "家具", "实木 餐桌 1.4 米 配四把椅子", "北美白橡木，搬家出。", "good", 1800)
add("wardrobe", "家具", "两门 衣柜 板式 白色", "租房用的，九成新，需要自己拆。", "good", 260)
add("mattress", "家具", "席梦思 床垫 1.8 米 独立弹簧", "用了一年，有床垫保护套。", "good", 1200)
add("cabinet", "家具", "鞋柜 玄关柜 翻斗式", "可放 20 双鞋。", "good", 150)
add("sofa", "家具", "懒人沙发 豆袋 单人", "很舒服，猫咪最爱。", "good", 90)

# ------------------------------------------------------------------------------------------------ 母婴 (baby)

add("stroller", "母婴", "好孩子 婴儿车 可坐可躺 轻便折叠", "宝宝长大了用不上，推车功能都正常。", "good", 380)
add("stroller", "母婴", "Bugaboo Fox 博格步 婴儿推车", "高景观推车，带雨罩和睡篮。", "good", 3200)
add("stroller", "母婴", "Babyzen YOYO2 婴儿车 可登机", "轻便伞车，出门旅行必备。", "like_new", 2600)
add("car_seat", "母婴", "宝得适 Britax 安全座椅 0-4 岁", "isofix 接口，无事故。", "good", 900)
add("crib", "母婴", "实木 婴儿床 可拼接大床", "带床垫和蚊帐，可改成书桌。", "good", 450)
add("baby", "母婴", "美德乐 吸奶器 双边电动", "配件都消毒过，用了三个月。", "good", 650)
add("baby", "母婴", "贝亲 奶瓶 宽口径 三个", "全新未拆封，送了太多。", "new", 60)
add("baby", "母婴", "宝宝 餐椅 可调节 带餐盘", "宝宝吃饭用，好清洗。", "good", 120)
add("baby", "母婴", "学步车 防侧翻 多功能", "宝宝会走了，闲置。", "good", 80)
add("baby", "母婴", "花王 纸尿裤 L 码 两包", "宝宝换尺码了，没拆封。", "new", 140)
add("toy", "母婴", "乐高 得宝 大颗粒 积木 城市系列", "乐高 duplo，零件齐全，已消毒。", "good", 260)
add("toy", "母婴", "乐高 机械组 保时捷 911 42056", "收藏款，拼过一次，盒说齐全。", "like_new", 2100)
add("toy", "母婴", "儿童 平衡车 无脚踏 12 寸", "两岁宝宝练平衡用。", "good", 150)
add("baby", "母婴", "婴儿 背带 腰凳 前抱式", "抱娃神器，九成新。", "good", 90)

# ----------------------------------------------------------------------------------------------- 运动 (sports)

add("yoga", "运动", "Lululemon 瑜伽垫 5mm", "天然橡胶，防滑很好。", "good", 260)
add("yoga", "运动", "迪卡侬 瑜伽垫 加厚 10mm 紫色", "在家健身用，几乎全新。", "like_new", 50)
add("fitness", "运动", "可调节 哑铃 24kg 一对", "快速调重，不占地方。", "good", 900)
add("fitness", "运动", "小米 走步机 折叠", "家用跑步机，静音，可收纳到床下。", "good", 700)
add("fitness", "运动", "舒华 跑步机 家用 E5", "减肥用的，用的次数不多。", "good", 1800)
add("racket", "运动", "尤尼克斯 羽毛球拍 天斧 88D", "YONEX 正品，已穿线。", "good", 520)
add("racket", "运动", "李宁 羽毛球拍 风刃 500 对拍", "李宁球拍两支，送球。", "good", 260)
add("racket", "运动", "Wilson 威尔胜 网球拍 Pro Staff", "费德勒同款，握把已换。", "good", 800)
add("ball", "运动", "斯伯丁 篮球 7 号 室外", "耐磨款，打过几次。", "good", 90)
add("ball", "运动", "阿迪达斯 足球 5 号 世界杯用球", "比赛用球，气很足。", "good", 120)
add("board", "运动", "滑板 双翘 枫木 新手", "入门滑板，板面有磨损。", "fair", 120)
add("ski", "运动", "Burton 单板 滑雪板 150cm 带固定器", "滑了一个雪季，板刃完好。", "good", 1800)
add("outdoor", "运动", "迪卡侬 帐篷 两人 速开", "露营用过两次，防雨。", "good", 260)
add("outdoor", "运动", "始祖鸟 登山包 Brize 32L", "户外背包，背负舒服。", "good", 900)
add("helmet", "运动", "骑行头盔 山地车 公路车 通用", "骑自行车戴的，M 码，没摔过。", "good", 120)
add("swim", "运动", "速比涛 泳镜 防雾 近视 500 度", "全新，买错度数了。", "new", 80)
add("fishing", "运动", "达亿瓦 鱼竿 碳素 5.4 米", "钓鱼装备，送浮漂和线组。", "good", 350)

# ----------------------------------------------------------------------------------------------- 乐器 (instruments)

add("guitar", "乐器", "雅马哈 F310 民谣吉他 41 寸", "入门吉他，弦刚换过，送琴包和变调夹。", "good", 520)
add("guitar", "乐器", "雅马哈 FG800 单板 吉他", "面单民谣吉他，音色通透。", "like_new", 1200)
add("guitar", "乐器", "Fender 芬达 Player Stratocaster 电吉他", "墨西哥产，配琴箱。", "good", 4800)
add("guitar", "乐器", "卡马 D1C 吉他 面单", "练了半年放弃了，几乎全新。", "like_new", 650)
add("piano", "乐器", "雅马哈 P-125 电钢琴 88 键 重锤", "带琴架和三踏板，键盘手感好。", "good", 2800)
add("piano", "乐器", "卡西欧 电子琴 61 键 儿童入门", "孩子学琴用过一年。", "good", 450)
add("piano", "乐器", "珠江 立式钢琴 二手 调过音", "实木钢琴，需要自提，楼层有电梯。", "fair", 6800)
add("ukulele", "乐器", "尤克里里 23 寸 桃花心木", "送教程和调音器。", "good", 160)
add("violin", "乐器", "小提琴 4/4 手工 实木 带琴盒", "考级用的，音色很好。", "good", 1500)
add("guzheng", "乐器", "敦煌 古筝 163 cm 演奏级", "配琴架、琴凳和指甲。", "good", 3800)
add("drum", "乐器", "罗兰 电子鼓 TD-1DMK", "静音练习，适合家用。", "good", 2900)
add("wind", "乐器", "雅马哈 萨克斯 中音 YAS-280", "学过一年，保养很好。", "good", 5200)
add("wind", "乐器", "口琴 24 孔 复音 初学", "几乎没用过。", "like_new", 50)

# ------------------------------------------------------------------------------------------ 家电 (home appliances)

add("appliance", "家电", "戴森 Supersonic 吹风机 HD08 紫红", "戴森吹风机，国行正品，风力很足。", "good", 1600)
add("appliance", "家电", "戴森 V10 无线吸尘器", "电池续航 40 分钟，配件齐全。", "good", 1300)
add("appliance", "家电", "小米 扫地机器人 拖地 一体", "自动回充，扫拖一体。", "good", 600)
add("appliance", "家电", "美的 空调 1.5 匹 变频 挂机", "搬家拆下来的，需要自己找人装。", "good", 900)
add("appliance", "家电", "格力 冰箱 三门 218 升", "制冷正常，租房用的。", "fair", 500)
add("appliance", "家电", "小天鹅 滚筒洗衣机 10 公斤", "变频滚筒，搬家出。", "good", 1100)
add("appliance", "家电", "格兰仕 微波炉 20 升", "加热正常，外观有小划痕。", "fair", 120)
add("appliance", "家电", "小熊 空气炸锅 5L 可视", "炸薯条鸡翅很好用。", "good", 150)
add("appliance", "家电", "德龙 咖啡机 半自动 意式", "带磨豆机一起出，每周除垢。", "good", 1900)
add("appliance", "家电", "米家 电饭煲 4L IH", "煮饭很香，内胆无划痕。", "good", 180)
add("appliance", "家电", "飞利浦 电动牙刷 HX6730", "刷头全新，送两个替换刷头。", "like_new", 150)
add("appliance", "家电", "九阳 豆浆机 破壁 免滤", "早上打豆浆很方便。", "good", 160)


def _listing_items() -> list[tuple[Item, str]]:
    out = []
    for n, listing in enumerate(_listings, start=1):
        seller = _pick(SELLERS)
        published = T0 - timedelta(minutes=37 * n)
        description = listing.description
        trade = _pick(_TRADE)
        if _rng.random() < 0.4 and trade not in description:
            description += f"{trade}。"
        item = Item(
            item_id=f"itm_c{n:03d}",
            shop_id=f"shp_{seller.removeprefix('usr_')}",
            seller_id=seller,
            title=listing.title,
            description=description,
            category=listing.category,
            condition=listing.condition,
            price_fen=round(listing.price_yuan * 100),
            images=[f"https://img.fishbridge.example/c/{n:03d}/1.jpg"],
            city=_pick(CITIES),
            status="on_sale",
            created_at=published - timedelta(hours=2),
            updated_at=published,
            published_at=published,
        )
        out.append((item, listing.kind))
    return out


_built = _listing_items()
ITEMS: list[Item] = [item for item, _ in _built]
"""The corpus, newest first."""
KIND: dict[str, str] = {item.item_id: kind for item, kind in _built}
"""What each item is, by id."""
BY_ID: dict[str, Item] = {item.item_id: item for item in ITEMS}


def of_kind(*kinds: str) -> set[str]:
    """The ids of the items of any of these kinds."""
    return {item_id for item_id, kind in KIND.items() if kind in kinds}


def titled(*words: str, kind: str | None = None) -> set[str]:
    """The ids of the items whose title holds every word (case-insensitive), of `kind` if given."""
    return {
        item.item_id
        for item in ITEMS
        if all(word.lower() in item.title.lower() for word in words) and (kind is None or KIND[item.item_id] == kind)
    }


def one(*words: str, kind: str | None = None) -> str:
    """The id of the one item whose title holds every word."""
    (item_id,) = titled(*words, kind=kind)
    return item_id
