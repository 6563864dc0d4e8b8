"""The chatbot directory's search: p50/p99 per kind of query over N generated chatbots, on SQLite and
on PostgreSQL (target p99 < 50 ms at 100,000 chatbots).

The chatbots are generated with a realistic skew: a fifth are banks (so 银行 is in 20,000 names or
categories), most names are Chinese (city + brand + 银行/快递/商城/客服...), some English; most are
live on China Mobile, fewer on Telecom and Unicom, a few on an aggregator; a tenth are not published
(their own tenant finds them); a few large tenants own many. They go into a fresh SQLite file and a
fresh, uniquely named PostgreSQL database (created here and dropped afterwards; skipped with a
message when the server is not there), through `ChatbotDirectory.index_many`, migrated first.

The queries, one at a time through `ChatbotDirectory.search` (so the figures include the Python
side), are a seeded mix of two-character Chinese keywords, single characters, longer Chinese names,
English words, prefixes and two-word phrases, about 40% of them with a category, carrier or status
filter or a tenant as viewer; `worst` (1% more) are adversarial ones: very common terms with
filters that reject almost all their postings, or two common terms that rarely meet. The database
is warmed with one pass of the queries first; then each query's time is its median over --rounds
passes (3), so that a moment when another process had the CPU is not taken for the query's cost;
p50/p99 are over the queries of a kind. PostgreSQL gets VACUUM ANALYZE after loading, as autovacuum
would; SQLite is used as the platform leaves it (no ANALYZE).

    python -m bench.directory --chatbots 100000 --queries 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import load_average, percentile
from msg5g.channels import ChannelRegistry
from msg5g.config import Settings
from msg5g.kit.secrets import SecretBox
from msg5g.pipeline.sql_queue import SqlQueue
from msg5g.services.chatbot_directory import ChatbotDirectory, DirectoryEntry
from msg5g.services.context import ServiceContext
from msg5g.storage.database import Database
from msg5g.storage.migrate import upgrade_async

POSTGRES_ADMIN_URL = os.environ.get("MSG5G_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州", "宁波",
          "青岛", "厦门", "长沙", "郑州", "济南", "合肥", "福州", "昆明", "沈阳", "大连", "无锡", "佛山", "东莞",
          "温州", "泉州", "南昌", "贵阳", "南宁", "太原", "石家庄", "哈尔滨", "长春", "兰州", "海口", "珠海"]
CITIES_EN = ["Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Nanjing", "Chengdu", "Wuhan", "Xian",
             "Chongqing", "Tianjin", "Suzhou", "Ningbo", "Qingdao", "Xiamen", "Changsha"]
BANKS = ["招商", "工商", "建设", "农业", "交通", "浦发", "民生", "兴业", "光大", "华夏", "中信", "平安", "广发", "邮储",
         "中国", "农商", "渤海", "浙商", "恒丰", "徽商", "北京", "上海", "江苏", "宁波", "杭州", "南京"]
# Brand names are two characters drawn from these, so their bigrams are skewed the way real ones are.
BRAND_CHARS = "京东天猫美团顺丰苏宁国美唯品汇优鲜果乐购盒马永辉华润万家大润发易中通圆韵达百世德邦极兔安能" \
              "星巴克瑞幸喜茶蜜雪肯德基麦当劳海底捞西贝携程飞猪同程滴滴高铁航空新东方好未来学而思" \
              "平安太保人寿泰康阳光众安华泰国信广发银河申万光大移动电信联通健康微医好大夫科技数码智慧云"
SUFFIXES = {
    "银行": ["银行", "银行信用卡", "银行客服", "银行{city}分行", "银行理财", "银行手机银行"],
    "电商": ["商城", "旗舰店", "优选", "客服", "会员中心", "购物"],
    "零售": ["超市", "便利店", "生鲜", "百货", "会员"],
    "物流": ["快递", "物流", "速运", "快运", "快递客服"],
    "生活服务": ["家政", "缴费", "生活", "服务中心", "客服"],
    "餐饮": ["咖啡", "外卖", "餐厅", "茶饮", "火锅"],
    "金融": ["金融", "信用", "支付", "财富", "信用评估"],
    "保险": ["保险", "人寿", "财险", "保险客服", "车险"],
    "教育": ["教育", "学堂", "在线课堂", "学校", "培训"],
    "医疗": ["医院", "健康", "体检", "药房", "挂号"],
    "出行": ["出行", "打车", "租车", "公交", "高铁管家"],
    "政务": ["政务", "政务服务", "社保", "公积金", "税务"],
    "运营商": ["移动", "电信", "联通", "营业厅", "宽带"],
    "旅游": ["旅游", "旅行", "景区", "度假"],
    "酒店": ["酒店", "民宿", "公寓"],
    "证券": ["证券", "基金", "投资"],
    "汽车": ["汽车", "4S店", "车服务"],
    "游戏": ["游戏", "电竞"],
    "房产": ["地产", "物业", "房产"],
    "其他": ["服务号", "助手", "中心"],
}
CATEGORY_WEIGHTS = {"银行": 20, "电商": 14, "零售": 9, "物流": 8, "生活服务": 7, "餐饮": 6, "金融": 5, "保险": 5,
                    "教育": 4, "医疗": 4, "出行": 3, "政务": 3, "运营商": 2, "旅游": 2, "酒店": 2, "证券": 2, "汽车": 2,
                    "游戏": 1, "房产": 1, "其他": 0.5}
SERVICES = {
    "银行": ["账单查询", "还款提醒", "信用卡申请", "转账汇款", "理财产品", "网点预约", "积分兑换"],
    "电商": ["订单查询", "物流跟踪", "售后服务", "优惠券", "会员积分", "新品推荐"],
    "物流": ["寄件", "查件", "上门取件", "运费查询", "派送提醒"],
    "保险": ["保单查询", "理赔服务", "续保提醒", "在线投保"],
}
GENERIC_SERVICES = ["在线客服", "消息通知", "活动推荐", "预约服务", "会员服务", "常见问题"]
ENGLISH = {
    "银行": ["Bank of {city}", "{city} Commercial Bank", "{city} Bank Credit Card", "{brand} Bank"],
    "电商": ["{brand} Store", "{brand} Mall", "{brand} Shop"],
    "物流": ["{brand} Express", "{brand} Logistics", "{city} Express"],
    "餐饮": ["{brand} Coffee", "{brand} Kitchen", "{brand} Tea"],
}
ENGLISH_BRANDS = ["Acme", "Sunny", "Golden", "Lotus", "Panda", "Dragon", "Jade", "Orient", "Pacific", "Star", "Blue",
                  "Green", "Silver", "Happy", "Smart", "Bright", "Royal", "Union", "Crown", "Delta"]
CARRIER_SHARES = {"cmcc": 0.75, "ctcc": 0.45, "cucc": 0.45, "aggregator": 0.12}
STATUSES = [("live", 88), ("submitted", 5), ("offline", 4), ("draft", 3)]


def generate(count: int, seed: int = 7) -> list[DirectoryEntry]:
    rng = random.Random(seed)
    categories, weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    tenants = [f"tenant-{n:05d}" for n in range(3000)]
    entries = []
    for n in range(count):
        category = rng.choices(categories, weights)[0]
        city = rng.choice(CITIES)
        brand = rng.choice(BANKS) if category == "银行" else "".join(rng.sample(BRAND_CHARS, 2))
        if category in ENGLISH and rng.random() < 0.15:
            name = rng.choice(ENGLISH[category]).format(city=rng.choice(CITIES_EN), brand=rng.choice(ENGLISH_BRANDS))
            keywords = [f"{brand}{rng.choice(SUFFIXES[category])}".replace("{city}", city)]
        else:
            suffix = rng.choice(SUFFIXES[category]).replace("{city}", city)
            name = f"{city}{brand}{suffix}" if rng.random() < 0.4 else f"{brand}{suffix}"
            keywords = rng.sample(SUFFIXES[category], min(2, len(SUFFIXES[category])))
            keywords = [k.replace("{city}", city) for k in keywords][:rng.randint(0, 2)]
        services = [*rng.sample(SERVICES.get(category, GENERIC_SERVICES), 2), rng.choice(GENERIC_SERVICES)]
        description = f"{name}官方5G消息服务号，为您提供{services[0]}、{services[1]}和{services[2]}。"
        carriers = tuple(c for c, share in CARRIER_SHARES.items() if rng.random() < share) or ("cmcc",)
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        tenant = tenants[int(len(tenants) * rng.random() ** 3)]  # a few large tenants, many small ones
        entries.append(DirectoryEntry(
            profile_id=str(uuid.UUID(int=rng.getrandbits(128))), tenant_id=tenant, name=name[:200],
            description=description, category=category, keywords=tuple(keywords), carriers=carriers, status=status,
            published=status == "live", sms_number=f"1069{n:08d}", chatbot_uri=f"sip:bot{n}@botplatform.example",
            logo_url=f"https://cdn.example.com/logo/{n}.png"))
    return entries


@dataclass
class Query:
    kind: str
    text: str
    filters: dict[str, Any] = field(default_factory=dict)


def queries(entries: list[DirectoryEntry], count: int, seed: int = 11) -> list[Query]:
    rng = random.Random(seed)
    names = [e.name for e in entries if all("\u4e00" <= ch <= "\u9fff" for ch in e.name)]
    common2 = ["银行", "信用", "客服", "快递", "保险", "商城", "外卖", "医院", "政务", "理财", "咖啡", "服务", "中心"]
    common1 = ["银", "行", "中", "客", "信", "京", "快", "店", "服", "上", "海"]
    english = ["bank", "express", "coffee", "store", "shanghai", "china", "golden", "credit", "mall"]
    prefixes = ["b", "ba", "ban", "exp", "co", "sha", "gol", "st", "pan"]
    phrases = ["bank of", "shanghai bank", "golden store", "bank credit", "panda express", "commercial bank"]
    worst = [Query("worst", "银", {"category": "游戏"}),
             Query("worst", "行", {"status": "draft", "carrier": "aggregator"}),
             Query("worst", "银行", {"category": "其他"}),
             Query("worst", "服务", {"status": "offline", "category": "房产"}),  # in every description
             Query("worst", "b", {"carrier": "aggregator", "status": "draft"}),
             Query("worst", "中", {"viewer_tenant_id": "tenant-02999", "status": "draft"}),
             Query("worst", "服务 官方", {"category": "房产", "status": "offline"}),
             Query("worst", "服务", {"carrier": "smpp"}),  # a carrier no chatbot is on
             Query("worst", "服务 官方", {"carrier": "smpp"}),
             Query("worst", "银行 游戏", {})]

    def some_bigram() -> str:
        name = rng.choice(names)
        start = rng.randrange(len(name) - 1)
        return name[start:start + 2]

    def some_long() -> str:
        name = rng.choice(names)
        size = rng.randint(3, min(6, len(name)))
        start = rng.randrange(len(name) - size + 1)
        return name[start:start + size]

    makers: dict[str, Callable[[], str]] = {
        "zh-2": lambda: rng.choice(common2) if rng.random() < 0.5 else some_bigram(),
        "zh-1": lambda: rng.choice(common1) if rng.random() < 0.5 else rng.choice(rng.choice(names)),
        "zh-long": some_long,
        "en-word": lambda: rng.choice(english),
        "en-prefix": lambda: rng.choice(prefixes),
        "en-phrase": lambda: rng.choice(phrases),
    }
    made = []
    for _ in range(count):
        kind = rng.choice(list(makers))
        text = makers[kind]()
        filters: dict[str, Any] = {}
        if rng.random() < 0.4:
            kind += "+filter"
            choice = rng.random()
            if choice < 0.35:
                filters["category"] = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
            elif choice < 0.6:
                filters["carrier"] = rng.choice(list(CARRIER_SHARES))
            elif choice < 0.75:
                filters["status"] = rng.choice(["live", "submitted"])
            else:
                filters["viewer_tenant_id"] = rng.choice(entries).tenant_id
        made.append(Query(kind, text, filters))
    return made + worst * max(1, count // 100)


async def measure(label: str, url: str, entries: list[DirectoryEntry], mix: list[Query], *, analyse: bool,
                  rounds: int) -> None:
    await upgrade_async(url)
    db = Database(url)
    folder = Path(tempfile.mkdtemp(prefix="msg5g-bench-directory-"))
    settings = Settings(database_url=url, data_dir=folder)
    try:
        async with aiohttp.ClientSession() as http:
            ctx = ServiceContext(settings=settings, db=db, queue=SqlQueue(db, visibility_timeout=30),
                                 registry=ChannelRegistry([]), http=http,
                                 secrets=SecretBox.from_settings(settings.credentials_keys, settings.secret_key))
            directory = ChatbotDirectory(ctx)
            started = time.perf_counter()
            for start in range(0, len(entries), 1000):
                await directory.index_many(entries[start:start + 1000])
            loaded = time.perf_counter() - started
            if analyse:
                async with db.engine.connect() as connection:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await autocommit.exec_driver_sql("VACUUM ANALYZE")
            postings = await _count(db, "directory_terms")
            print(f"\n{label}: {len(entries):,} chatbots indexed in {loaded:.1f} s ({len(entries) / loaded:,.0f}/s), "
                  f"{postings:,} postings ({postings / len(entries):.0f} per chatbot)")
            await _run(directory, mix)  # warm the caches
            each: list[list[float]] = [[] for _ in mix]
            found: list[int] = []
            for _ in range(rounds):
                found = []
                for index, query in enumerate(mix):
                    viewer = query.filters.get("viewer_tenant_id")
                    filters = {k: v for k, v in query.filters.items() if k != "viewer_tenant_id"}
                    began = time.perf_counter()
                    found.append(len(await directory.search(query.text, viewer_tenant_id=viewer, **filters)))
                    each[index].append((time.perf_counter() - began) * 1000)
            timings: dict[str, list[float]] = defaultdict(list)
            hits: dict[str, list[int]] = defaultdict(list)
            for query, times, count in zip(mix, each, found, strict=True):
                timings[query.kind].append(statistics.median(times))
                hits[query.kind].append(count)
            everything = [t for values in timings.values() for t in values]
            print(f"{'kind':<18}{'queries':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'hits':>7}")
            for kind in sorted(timings):
                values = timings[kind]
                print(f"{kind:<18}{len(values):>8}{percentile(values, 0.5):>9.2f}{percentile(values, 0.99):>9.2f}"
                      f"{max(values):>9.2f}{sum(hits[kind]) / len(values):>7.1f}")
            print(f"{'all':<18}{len(everything):>8}{percentile(everything, 0.5):>9.2f}"
                  f"{percentile(everything, 0.99):>9.2f}{max(everything):>9.2f}")
            print(f"database size {await _size(db) / 2**20:,.0f} MiB; {load_average()}")
    finally:
        await db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


async def _run(directory: ChatbotDirectory, mix: list[Query]) -> None:
    for query in mix:
        viewer = query.filters.get("viewer_tenant_id")
        filters = {k: v for k, v in query.filters.items() if k != "viewer_tenant_id"}
        await directory.search(query.text, viewer_tenant_id=viewer, **filters)


async def _size(db: Database) -> int:
    async with db.engine.connect() as connection:
        if db.is_sqlite:
            pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
            return int(pages) * int((await connection.exec_driver_sql("PRAGMA page_size")).scalar_one())
        return int((await connection.exec_driver_sql("SELECT pg_database_size(current_database())")).scalar_one())


async def _count(db: Database, table: str) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")).scalar_one())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chatbots", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="each query's time is its median over the rounds")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    entries = generate(args.chatbots)
    mix = queries(entries, args.queries)
    print(f"generated {len(entries):,} chatbots and {len(mix):,} queries in {time.perf_counter() - started:.1f} s")
    folder = Path(tempfile.mkdtemp(prefix="msg5g-bench-directory-"))
    try:
        await measure("SQLite", f"sqlite+aiosqlite:///{folder / 'directory.db'}", entries, mix, analyse=False,
                      rounds=args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.skip_postgres:
        return
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except Exception as exc:
        print(f"\nPostgreSQL: skipped, not reachable at {POSTGRES_ADMIN_URL} ({exc.__class__.__name__})")
        return
    name = f"msg5g_bench_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        await measure(f"PostgreSQL ({name})", f"{base}/{name}", entries, mix, analyse=True, rounds=args.rounds)
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
