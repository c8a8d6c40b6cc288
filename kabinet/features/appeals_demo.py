"""Demo appeals for `kabinet up --demo` (make run): three sample appeals, one of them answered.

Idempotent: each has a fixed `idem_key`, so running the demo again adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from council import appeals

if TYPE_CHECKING:
    from kabinet.core import Core

SAMPLES = [
    ("demo:appeal:1", dict(
        name="Петренко Марія Іванівна", residence="м. Івано-Франківськ, вул. Зразкова, 1",
        email="maria.petrenko@example.org", subject="Освітлення у дворі",
        text="Прошу відновити вуличне освітлення біля будинку № 1: ліхтарі не світять з жовтня.",
        type="application")),
    ("demo:appeal:2", dict(
        name="Коваль Андрій Петрович", residence="м. Івано-Франківськ, вул. Пробна, 7",
        phone="+380 50 000 00 00", subject="Пропозиція: велодоріжка",
        text="Пропоную облаштувати велодоріжку вздовж вулиці Пробної до парку.",
        type="proposal")),
    ("demo:appeal:3", dict(
        name="Савчук Оксана Миколаївна", residence="м. Івано-Франківськ, вул. Тестова, 12",
        email="oksana.savchuk@example.org", subject="Ремонт дитячого майданчика",
        text="Дитячий майданчик у дворі зламаний: гойдалка небезпечна для дітей.",
        type="complaint")),
]
ANSWER = ("Дякуємо за звернення. Заявку передано до управління житлово-комунального "
          "господарства; ремонт майданчика включено до плану робіт на наступний місяць.")


async def seed(core: Core, ctx: appeals.Context) -> None:
    deputies = core.roster.deputies
    if not deputies:
        return
    first, second = deputies[0], deputies[min(1, len(deputies) - 1)]
    district = next((d.district for d in deputies if d.district), None)
    for n, (key, fields) in enumerate(SAMPLES):
        if n == 1 and district is not None:
            where = dict(addressee_kind="district", addressee_district=district,
                         candidates=tuple(d.id for d in deputies if d.district == district))
        else:
            where = dict(addressee_kind="deputy", addressee_deputy=(first if n == 0 else second).id)
        async with core.store.session() as s:
            appeal, token = await appeals.register(
                s, ctx, appeals.NewAppeal(**fields, **where, idem_key=key))  # type: ignore[arg-type]
            if token is not None and n == 2:
                await appeals.answer(s, ctx, appeal, ANSWER, "demo")
