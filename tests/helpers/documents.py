"""The terms of a contract document as engine.inbox.contract_terms gives them."""

from __future__ import annotations

TERMS = {
    "number": "CIVP-2025-000042",
    "programme": "civp",
    "title_fr": "Contrat d'initiation à la vie professionnelle (CIVP)",
    "title_ar": "عقد الإعداد للحياة المهنية",
    "office_fr": "Bureau de l'emploi de Gafsa",
    "office_ar": "مكتب التشغيل والعمل المستقل بقفصة",
    "beneficiary": "سلمى العياري",
    "cin": "10000274",
    "employer": "شركة الواحة للتقنية",
    "mf": "1472583K",
    "position": "مساعدة إدارية",
    "tutor": "هالة بن عمر",
    "request_date": "2025-01-15",
    "months": 24,
    "stipend": 250,
    "complement": 200,
    "legal_basis": "D2019-542",
}
