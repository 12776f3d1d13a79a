"""Questionnaire documents used by the survey tests."""

from __future__ import annotations

import copy

HOSTILE = '<script>alert(1)</script>"><svg onload=alert(1)>{{7*7}}'

THREE_PAGES = {
    "format": "orbit.questionnaire/1",
    "key": "service-check",
    "title": {"en": "Service check", "zh_CN": "服务评价"},
    "description": {"en": "Two minutes.", "zh_CN": "两分钟。"},
    "default_locale": "zh_CN",
    "dimensions": [
        {"key": "service", "name": {"en": "Service", "zh_CN": "服务"}, "kind": "kpi", "weight": 1}
    ],
    "pages": [
        {
            "key": "about",
            "title": {"en": "Your visit", "zh_CN": "您的体验"},
            "questions": [
                {
                    "key": "csat",
                    "type": "csat",
                    "text": {"en": "How satisfied are you?", "zh_CN": "您满意吗？"},
                    "required": True,
                    "dimension": "service",
                },
                {
                    "key": "why",
                    "type": "long_text",
                    "text": {"en": "What went wrong?", "zh_CN": "哪里做得不好？"},
                    "show_if": {"question": "csat", "op": "less", "value": 3},
                },
            ],
        },
        {
            "key": "more",
            "title": {"en": "More", "zh_CN": "更多"},
            "questions": [
                {
                    "key": "channel",
                    "type": "single_choice",
                    "text": {"en": "How did you contact us?", "zh_CN": "您通过什么方式联系我们？"},
                    "required": True,
                    "options": [
                        {"value": "phone", "label": {"en": "Phone", "zh_CN": "电话"}},
                        {"value": "email", "label": {"en": "Email", "zh_CN": "邮件"}},
                    ],
                },
                {
                    "key": "nps",
                    "type": "nps",
                    "text": {"en": "Would you recommend us?", "zh_CN": "您会推荐我们吗？"},
                },
            ],
        },
        {
            "key": "end",
            "title": {"en": "Last words", "zh_CN": "最后"},
            "questions": [
                {
                    "key": "comment",
                    "type": "long_text",
                    "text": {"en": "Anything else?", "zh_CN": "还有其他意见吗？"},
                }
            ],
        },
    ],
}


def three_pages(**changes) -> dict:
    document = copy.deepcopy(THREE_PAGES)
    document.update(changes)
    return document
