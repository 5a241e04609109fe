#!/usr/bin/env python3
"""Regenerate the non-plain-text sample tenant files from text held in this script.

Writes:
  acme-hr/employee_handbook.docx           (python-docx, Heading 1 / Heading 2 styles)
  nordwerk-maint/press_maintenance_manual.pdf  (fpdf2, 2 pages, core Helvetica font)
  huaxin-bank/card_fees.txt                (plain text encoded in GB18030, not UTF-8)

The GB18030 file is generated here as well because it is easy to corrupt by
accident: opening and saving it in a UTF-8 editor silently changes its encoding.

Requirements (not in the project venv on purpose):
    python3 -m venv /tmp/samplegen
    /tmp/samplegen/bin/pip install python-docx fpdf2 pypdf
    /tmp/samplegen/bin/python sample_tenants/_make_binaries.py

The script is idempotent and verifies every file it writes.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# acme-hr: employee handbook (DOCX)
# Each entry: ("h1" | "h2" | "p" | "bullet", text)
# ---------------------------------------------------------------------------
HANDBOOK = [
    ("h1", "Acme Robotics Employee Handbook"),
    ("p", "Edition 2025. This handbook applies to all full-time employees of Acme Robotics Inc. "
          "in the United States. It summarises how we work together and what you can expect from "
          "the company. Where a separate policy exists, such as the remote work policy or the "
          "travel and expense policy, that policy contains the full details."),
    ("h1", "Part 1: Working at Acme"),
    ("h2", "Working hours"),
    ("p", "The standard work week at Acme Robotics is 40 hours. Core hours are 10:00 to 15:00 "
          "Eastern Time, and all employees are expected to be available for meetings during that "
          "window. Outside core hours you may plan your day flexibly together with your team."),
    ("h2", "Probation period"),
    ("p", "The probation period for new hires is 90 days. During probation your manager meets "
          "with you every two weeks to give feedback. Either side may end the employment during "
          "probation with one week of notice."),
    ("h2", "Performance reviews"),
    ("p", "Performance reviews take place twice a year, in April and October. Salary adjustments "
          "agreed in the April review take effect on July 1. Reviews are based on written goals "
          "that you set with your manager at the start of each half-year."),
    ("h1", "Part 2: Time off"),
    ("h2", "Paid annual leave"),
    ("p", "Employees accrue 23 days of paid annual leave per calendar year. Leave accrues monthly "
          "from your first day of work, including during probation. Leave requests of more than "
          "three consecutive days should be submitted in PeopleHub at least two weeks in advance."),
    ("p", "Up to 5 unused days of annual leave may be carried over into the next calendar year, "
          "and carried-over days must be used by March 31. Days above that limit expire and are "
          "not paid out, except where state law requires it."),
    ("h2", "Sick leave"),
    ("p", "Employees receive 10 days of paid sick leave per year, separate from annual leave. A "
          "doctor's note is required after 3 consecutive sick days. Please tell your manager "
          "before 09:30 on each day you are ill."),
    ("h2", "Parental leave"),
    ("p", "Primary caregivers receive 16 weeks of fully paid parental leave, and secondary "
          "caregivers receive 6 weeks of fully paid parental leave. Parental leave can be taken "
          "at any time within 12 months of the birth or adoption of a child, in up to two blocks."),
    ("h2", "Bereavement leave"),
    ("p", "In the event of the death of a close family member you receive up to 5 days of paid "
          "bereavement leave. Close family includes a spouse or partner, children, parents, "
          "siblings and grandparents."),
    ("h1", "Part 3: Conduct and concerns"),
    ("h2", "Our expectations"),
    ("p", "We expect every employee to treat colleagues, customers and suppliers with respect. "
          "In particular:"),
    ("bullet", "Safety rules in the lab and on the assembly floor are never optional."),
    ("bullet", "Customer data and unreleased robot designs are confidential."),
    ("bullet", "Gifts from suppliers worth more than $75 must be declined or reported."),
    ("h2", "Raising a concern"),
    ("p", "If you see behaviour that breaks the law or this handbook, talk to your manager or the "
          "People Team. You can also report concerns anonymously through the SpeakUp line, which "
          "is run by an independent provider. Acme Robotics does not tolerate retaliation against "
          "anyone who raises a concern in good faith."),
]

# ---------------------------------------------------------------------------
# nordwerk-maint: press maintenance manual (PDF, 2 pages)
# Only Latin-1 characters: the PDF uses the built-in Helvetica font.
# Each entry: ("title" | "h" | "p" | "bullet" | "pagebreak", text)
# ---------------------------------------------------------------------------
MANUAL = [
    ("title", "Nordwerk Stamping GmbH - Press Maintenance Manual"),
    ("p", "Press Line 3, Hall 2, Hagen plant. Document NW-MM-03, revision 7, March 2025. "
          "Approved by the maintenance manager, Jens Albrecht."),
    ("h", "1. Scope"),
    ("p", "This manual describes the preventive maintenance of the two mechanical presses on "
          "Press Line 3: the NP-630 with a nominal force of 630 tonnes and the NP-1250 with a "
          "nominal force of 1,250 tonnes. All work inside the guarded area must follow the "
          "lockout procedure NW-SOP-LOTO-03. Record every maintenance task in the press log."),
    ("h", "2. Daily checks (every shift)"),
    ("bullet", "The clutch/brake air pressure must be between 5.5 and 6.0 bar while the press "
               "is running."),
    ("bullet", "Check that grease reaches the gibs and connecting rod bearings of both presses."),
    ("bullet", "Test the safety light curtain with the 30 mm test rod at three heights."),
    ("bullet", "Listen for unusual noise from the main gears and the flywheel."),
    ("bullet", "Look for oil leaks under the hydraulic overload unit and the counterbalance."),
    ("h", "3. Lubrication schedule"),
    ("p", "The central lubrication system supplies the gibs and connecting rod bearings "
          "automatically every 20 minutes of press operation. The following points are "
          "lubricated by hand or need an oil change:"),
    ("bullet", "The main crankshaft bearings of the NP-1250 must be regreased every 160 "
               "operating hours with Nordlube EP-2 grease."),
    ("bullet", "The main crankshaft bearings of the NP-630 must be regreased every 250 "
               "operating hours with the same grease."),
    ("bullet", "Flywheel bearings on both presses receive 40 grams of grease per bearing every "
               "500 operating hours."),
    ("bullet", "The oil of the hydraulic overload protection system (ISO VG 46) must be replaced "
               "every 4,000 operating hours."),
    ("bullet", "The gear oil of the NP-1250 main drive gearbox (CLP 220) must be changed every "
               "8,000 operating hours. Take an oil sample for laboratory analysis every 2,000 "
               "operating hours."),
    ("pagebreak", ""),
    ("h", "4. Clutch and brake"),
    ("p", "The brake stopping time of the NP-630 must not exceed 180 milliseconds, and the "
          "brake stopping time of the NP-1250 must not exceed 260 milliseconds. The stopping "
          "time is measured once a month with the stopping-time meter and written into the "
          "press log. If the limit is exceeded, the press must not be used for production."),
    ("p", "Friction linings of the clutch and the brake are replaced when the remaining lining "
          "thickness is less than 4 mm. Always replace clutch and brake linings as a set."),
    ("p", "After the main drive is switched off, the NP-1250 flywheel takes about 7 minutes to "
          "come to a complete standstill. The NP-630 flywheel stops after about 3 minutes."),
    ("h", "5. Slide and gibs"),
    ("p", "Slide parallelism is checked every 6 months with a dial gauge at the four corners of "
          "the bolster. The permitted deviation is 0.05 mm per 1,000 mm. The gib clearance must "
          "be set between 0.10 and 0.15 mm; readjust the gibs when the clearance exceeds 0.20 mm."),
    ("h", "6. Annual inspection"),
    ("p", "Once a year each press is inspected by a certified inspector from Technische "
          "Pruefstelle Ruhr. The NP-1250 is inspected every September and the NP-630 every "
          "March. The inspection report is filed in the press log, and any defects found must be "
          "repaired within 30 days."),
    ("h", "7. Contacts"),
    ("p", "Maintenance manager: Jens Albrecht, extension 2601. Press manufacturer service "
          "line: reference customer number NW-88213 when you call."),
]

# ---------------------------------------------------------------------------
# huaxin-bank: card fee schedule (plain text, GB18030)
# ---------------------------------------------------------------------------
CARD_FEES = """\
华信银行个人银行卡收费标准说明
（2025 年版，自 2025 年 1 月 1 日起执行）

本说明列出华信银行个人借记卡和信用卡的主要收费项目。未列出的项目以网点公示的《华信银行服务价目表》为准。收费标准如有调整，本行将至少提前 3 个月在网点和官方网站公告。

一、借记卡收费

1. 年费与账户管理费
华信如意借记卡免收年费和小额账户管理费。每位客户在本行开立的第一张借记卡同样免收年费。

2. 补卡与挂失
借记卡因损坏或丢失需要补办新卡的，每张收取工本费 15 元。口头挂失（通过客服热线或手机银行办理）免费；书面挂失每次收取 10 元手续费。

3. ATM 取款
在华信银行自有 ATM 上取款免收手续费。在境内其他银行的 ATM 上取款，每月前 3 笔免费，从第 4 笔起每笔收取 2 元。年满 60 周岁的客户在境内他行 ATM 取款全部免费。

4. 境外取款
在境外 ATM 取款，每笔收取 12 元手续费，另加取款金额的 0.5%。境外取款每日累计不超过等值人民币 1 万元。

5. 短信通知服务
动账短信通知服务每月收取 2 元。开通手机银行消息推送的客户可以免费接收动账提醒，并可随时取消短信服务。

二、信用卡收费

1. 年费
华信星辰信用卡普卡年费为 200 元，金卡年费为 480 元。每个账单年度内刷卡消费满 6 次，可免收次年年费。白金卡年费为 1800 元，不参加刷卡免年费活动。

2. 预借现金
信用卡预借现金手续费为取现金额的 1%，每笔最低 10 元。预借现金不享受免息还款期，自取现当日起计息。

3. 透支利息与免息期
信用卡透支按日利率万分之五计息。刷卡消费享受免息还款期，最长免息期为 56 天，前提是在到期还款日前全额还款。

4. 违约金
未能在到期还款日前偿还最低还款额的，按最低还款额未还部分的 5% 收取违约金，每笔最低 10 元。

5. 境外交易
使用信用卡在境外进行外币消费，收取交易金额 1.5% 的货币转换费。

三、减免说明

以下客户可申请减免部分费用：持有有效证件的现役军人、残疾人，以及领取最低生活保障金的客户，可免收借记卡工本费和短信通知服务费。申请减免请携带相关证件到网点办理。

四、投诉与咨询

如对收费有疑问，可在手机银行“在线客服”咨询，或到任一网点填写意见卡。本行将在 15 个工作日内给予答复。
"""

FIXED_DATE = _dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=_dt.timezone.utc)


def make_docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.core_properties.title = "Acme Robotics Employee Handbook"
    doc.core_properties.author = "Acme Robotics People Team"
    doc.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    doc.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    for kind, text in HANDBOOK:
        if kind == "h1":
            doc.add_heading(text, level=1)
        elif kind == "h2":
            doc.add_heading(text, level=2)
        elif kind == "bullet":
            doc.add_paragraph(text, style="List Bullet")
        else:
            doc.add_paragraph(text)
    doc.save(str(path))


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title("Nordwerk Stamping GmbH - Press Maintenance Manual")
    pdf.set_author("Nordwerk Stamping GmbH, Maintenance Department")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    for kind, text in MANUAL:
        if kind == "pagebreak":
            pdf.add_page()
        elif kind == "title":
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "h":
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "bullet":
            pdf.set_font("Helvetica", "", 11)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 6, "- " + text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(str(path))


def make_gb18030(path: Path) -> None:
    with open(path, "w", encoding="gb18030", newline="\n") as f:
        f.write(CARD_FEES)


def _norm(s: str) -> str:
    return " ".join(s.split())


def verify(docx_path: Path, pdf_path: Path, txt_path: Path) -> None:
    from docx import Document
    from pypdf import PdfReader

    # DOCX: every paragraph comes back with the intended style.
    doc = Document(str(docx_path))
    got = [(p.style.name, p.text) for p in doc.paragraphs if p.text.strip()]
    style = {"h1": "Heading 1", "h2": "Heading 2", "bullet": "List Bullet", "p": "Normal"}
    want = [(style[k], t) for k, t in HANDBOOK]
    assert got == want, "docx read-back differs from source text"

    # PDF: 2 pages, every source sentence present in the extracted text.
    reader = PdfReader(str(pdf_path))
    assert len(reader.pages) == 2, f"expected 2 pages, got {len(reader.pages)}"
    text = _norm(" ".join(page.extract_text() or "" for page in reader.pages))
    for kind, t in MANUAL:
        if t:
            assert _norm(t) in text, f"PDF text missing: {t[:60]!r}"

    # GB18030: must not be valid UTF-8, must round-trip.
    raw = txt_path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("card_fees.txt decodes as UTF-8; expected GB18030")
    assert raw.decode("gb18030") == CARD_FEES


def main() -> None:
    docx_path = HERE / "acme-hr" / "employee_handbook.docx"
    pdf_path = HERE / "nordwerk-maint" / "press_maintenance_manual.pdf"
    txt_path = HERE / "huaxin-bank" / "card_fees.txt"
    make_docx(docx_path)
    make_pdf(pdf_path)
    make_gb18030(txt_path)
    verify(docx_path, pdf_path, txt_path)
    for p in (docx_path, pdf_path, txt_path):
        print(f"wrote {p.relative_to(HERE)} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
