"""A realistic bilingual demo organisation for `flask orbit demo`.

Two vendors, four teams (two outsourced, two in-house) and 40 people with a
three-level reporting line. Loading is idempotent: if the demo administrator
exists, nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from core.extensions import db
from org import audit
from org.models import Team, User, Vendor
from org.passwords import hash_password

DEMO_PASSWORD = "orbit-demo-2026"  # noqa: S105 - documented demo login, never in production
DEMO_ADMIN = "admin@demo.orbit"
DEMO_MANAGER = "li.na@demo.orbit"
DEMO_MEMBER = "chen.jie@demo.orbit"

VENDORS = [
    {
        "name": "星辰客服外包 Stellar Contact Ltd",
        "contact_name": "周敏 Zhou Min",
        "contact_email": "zhou.min@stellar-contact.example",
        "contract_start": date(2025, 1, 1),
        "contract_end": date(2027, 12, 31),
    },
    {
        "name": "港湾信息技术 Harbor IT Services",
        "contact_name": "Daniel Hart",
        "contact_email": "daniel.hart@harbor-it.example",
        "contract_start": date(2024, 7, 1),
        "contract_end": date(2026, 12, 31),
    },
]

# team name, vendor index (None: in-house), manager (email, name), members [(email, name)]
TEAMS = [
    (
        "客户热线 Customer Hotline",
        0,
        ("li.na@demo.orbit", "李娜 Li Na"),
        [
            ("chen.jie@demo.orbit", "陈杰 Chen Jie"),
            ("wang.fang@demo.orbit", "王芳 Wang Fang"),
            ("zhang.wei@demo.orbit", "张伟 Zhang Wei"),
            ("liu.yang@demo.orbit", "刘洋 Liu Yang"),
            ("huang.li@demo.orbit", "黄丽 Huang Li"),
            ("zhao.lei@demo.orbit", "赵磊 Zhao Lei"),
            ("sun.min@demo.orbit", "孙敏 Sun Min"),
            ("zhou.tao@demo.orbit", "周涛 Zhou Tao"),
        ],
    ),
    (
        "IT 服务台 IT Helpdesk",
        1,
        ("james.wilson@demo.orbit", "James Wilson 威尔逊"),
        [
            ("emma.brown@demo.orbit", "Emma Brown"),
            ("wu.hao@demo.orbit", "吴昊 Wu Hao"),
            ("olivia.taylor@demo.orbit", "Olivia Taylor"),
            ("xu.jing@demo.orbit", "徐静 Xu Jing"),
            ("noah.davies@demo.orbit", "Noah Davies"),
            ("ma.chao@demo.orbit", "马超 Ma Chao"),
            ("sophie.evans@demo.orbit", "Sophie Evans"),
            ("hu.bin@demo.orbit", "胡斌 Hu Bin"),
        ],
    ),
    (
        "人力资源共享中心 HR Shared Services",
        None,
        ("gao.yan@demo.orbit", "高燕 Gao Yan"),
        [
            ("lin.xue@demo.orbit", "林雪 Lin Xue"),
            ("he.jun@demo.orbit", "何军 He Jun"),
            ("grace.lee@demo.orbit", "Grace Lee 李嘉"),
            ("luo.ping@demo.orbit", "罗平 Luo Ping"),
            ("zheng.yu@demo.orbit", "郑宇 Zheng Yu"),
            ("liang.qing@demo.orbit", "梁青 Liang Qing"),
        ],
    ),
    (
        "产品运营 Product Operations",
        None,
        ("michael.chen@demo.orbit", "Michael Chen 陈明"),
        [
            ("song.jia@demo.orbit", "宋佳 Song Jia"),
            ("tang.kai@demo.orbit", "唐凯 Tang Kai"),
            ("hannah.white@demo.orbit", "Hannah White"),
            ("feng.rui@demo.orbit", "冯瑞 Feng Rui"),
            ("deng.hui@demo.orbit", "邓辉 Deng Hui"),
            ("jack.green@demo.orbit", "Jack Green"),
            ("cao.ning@demo.orbit", "曹宁 Cao Ning"),
        ],
    ),
]

DIRECTOR = ("yang.guang@demo.orbit", "杨光 Yang Guang (运营总监 Director of Operations)")
ADMIN_NAME = "许晴 Xu Qing (HR 管理员 HR Admin)"


@dataclass
class DemoResult:
    created: bool
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    people: int = 0


def load_demo() -> DemoResult:
    """Create the demo organisation unless it is already there. Flushes, never commits."""
    if db.session.scalar(select(User).where(User.email == DEMO_ADMIN)) is not None:
        return DemoResult(created=False)
    password_hash = hash_password(DEMO_PASSWORD)

    def person(email, name, role, team=None, supervisor=None, locale=None):
        user = User(
            email=email,
            display_name=name,
            role=role,
            team=team,
            supervisor=supervisor,
            locale=locale,
            password_hash=password_hash,
            active=True,
        )
        db.session.add(user)
        return user

    vendors = [Vendor(active=True, **v) for v in VENDORS]
    db.session.add_all(vendors)
    admin = person(DEMO_ADMIN, ADMIN_NAME, "admin")
    director = person(*DIRECTOR, "manager")
    count = 2
    for team_name, vendor_index, (m_email, m_name), members in TEAMS:
        team = Team(
            name=team_name,
            vendor=vendors[vendor_index] if vendor_index is not None else None,
            active=True,
        )
        db.session.add(team)
        manager = person(m_email, m_name, "manager", team=team, supervisor=director)
        count += 1
        # The first member leads a sub-group: a three-level reporting line.
        lead = None
        for i, (email, name) in enumerate(members):
            locale = "zh_CN" if any("\u4e00" <= ch <= "\u9fff" for ch in name) else "en"
            if i == 0:
                lead = person(email, name, "member", team=team, supervisor=manager, locale=locale)
            else:
                boss = lead if i >= len(members) - 2 else manager
                person(email, name, "member", team=team, supervisor=boss, locale=locale)
            count += 1
    # One former employee: deactivated, history kept.
    former = person(
        "former.staff@demo.orbit", "离职员工 Former Staff", "member", supervisor=director
    )
    former.active = False
    count += 1
    db.session.flush()
    audit.record("demo.load", admin, actor=admin, details={"people": count})
    return DemoResult(
        created=True,
        people=count,
        logins=[
            ("admin", DEMO_ADMIN, DEMO_PASSWORD),
            ("manager", DEMO_MANAGER, DEMO_PASSWORD),
            ("member", DEMO_MEMBER, DEMO_PASSWORD),
        ],
    )
