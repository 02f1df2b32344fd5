"""EU AI Act classification from an intake questionnaire. Pure: no database, no web.

The questionnaire (:data:`QUESTIONS`) follows Regulation (EU) 2024/1689: the prohibited practices
of Art. 5(1)(a)-(h), the high-risk rules of Art. 6(1) (safety components, Annex I) and Art. 6(2)
(the eight areas of Annex III, with the Art. 6(3) derogation, which never covers profiling), the
transparency obligations of Art. 50, and general-purpose AI models (Art. 3(63), Art. 51-55).

:func:`classify` gives the highest category that applies (prohibited > high_risk > limited >
minimal), every answer that led to it with its article, the obligations that follow, the GPAI
flag (and whether the model presumably has systemic risk), and the risk tier to propose for the
inventory (prohibited -> ``unacceptable``, high_risk -> ``high``, limited -> ``limited``,
minimal -> ``minimal``: the inventory's four tiers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from charter.errors import InvalidInput
from charter.risk.schemas import (
    Answer,
    AnswerType,
    Category,
    ClassificationReason,
    ClassificationResult,
    Obligation,
    QuestionnaireRead,
    QuestionRead,
)

__all__ = ["QUESTIONNAIRE_VERSION", "QUESTIONS", "SYSTEMIC_FLOPS", "TIERS", "classify", "questionnaire"]

QUESTIONNAIRE_VERSION = "2024-1689.1"
REGULATION = "Regulation (EU) 2024/1689 (the AI Act)"
#: Art. 51(2): a GPAI model trained with more compute than this is presumed to have high-impact capabilities.
SYSTEMIC_FLOPS = 1e25
TIERS: dict[Category, Literal["unacceptable", "high", "limited", "minimal"]] = {
    "prohibited": "unacceptable",
    "high_risk": "high",
    "limited": "limited",
    "minimal": "minimal",
}
Section = Literal["prohibited", "high_risk", "transparency", "gpai"]


@dataclass(frozen=True)
class Question:
    id: str
    section: Section
    text: str
    reference: str
    short: str  # how a "yes" is named in the reasons
    answer_type: AnswerType = "boolean"
    required: bool = True
    help: str | None = None


QUESTIONS: tuple[Question, ...] = (
    # -- Art. 5(1): prohibited practices ------------------------------------------------------------
    Question(
        "p_manipulation",
        "prohibited",
        "Does the system deploy subliminal, purposefully manipulative or deceptive techniques that "
        "materially distort people's behaviour, causing or being reasonably likely to cause them significant harm?",
        "Art. 5(1)(a)",
        "manipulative or deceptive techniques causing significant harm",
    ),
    Question(
        "p_vulnerabilities",
        "prohibited",
        "Does it exploit the vulnerabilities of people due to their age, disability or social or economic "
        "situation to materially distort their behaviour, causing or likely causing significant harm?",
        "Art. 5(1)(b)",
        "exploitation of vulnerabilities (age, disability, social or economic situation)",
    ),
    Question(
        "p_social_scoring",
        "prohibited",
        "Does it evaluate or classify people over time by their social behaviour or personal characteristics, "
        "with a social score leading to detrimental treatment in unrelated contexts or out of proportion?",
        "Art. 5(1)(c)",
        "social scoring",
    ),
    Question(
        "p_predictive_policing",
        "prohibited",
        "Does it assess or predict the risk that a person commits a criminal offence based solely on "
        "profiling or on their personality traits and characteristics?",
        "Art. 5(1)(d)",
        "predicting criminal offences solely from profiling or personality traits",
    ),
    Question(
        "p_facial_scraping",
        "prohibited",
        "Does it create or expand facial recognition databases through untargeted scraping of facial images "
        "from the internet or CCTV footage?",
        "Art. 5(1)(e)",
        "untargeted scraping of facial images for facial recognition databases",
    ),
    Question(
        "p_emotion_workplace",
        "prohibited",
        "Does it infer the emotions of people in the workplace or in education institutions (other than for "
        "medical or safety reasons)?",
        "Art. 5(1)(f)",
        "emotion recognition in the workplace or in education",
    ),
    Question(
        "p_biometric_categorisation",
        "prohibited",
        "Does it categorise people on their biometric data to deduce or infer their race, political opinions, "
        "trade union membership, religious or philosophical beliefs, sex life or sexual orientation?",
        "Art. 5(1)(g)",
        "biometric categorisation inferring sensitive characteristics",
    ),
    Question(
        "p_realtime_rbi",
        "prohibited",
        "Is it used for real-time remote biometric identification in publicly accessible spaces for law "
        "enforcement, outside the narrow exceptions authorised under Art. 5(1)(h)(i)-(iii) and 5(2)-(7)?",
        "Art. 5(1)(h)",
        "real-time remote biometric identification in public spaces for law enforcement",
    ),
    # -- Art. 6: high-risk systems ------------------------------------------------------------------
    Question(
        "hr_product_safety",
        "high_risk",
        "Is the system a safety component of a product, or itself a product, covered by the Union "
        "harmonisation legislation listed in Annex I that must undergo a third-party conformity assessment?",
        "Art. 6(1), Annex I",
        "safety component of a product under Annex I legislation",
    ),
    Question(
        "hr_biometrics",
        "high_risk",
        "Is it used for remote biometric identification (not mere verification that a person is who they "
        "claim to be), biometric categorisation by sensitive or protected attributes, or emotion recognition?",
        "Annex III, point 1",
        "biometrics",
    ),
    Question(
        "hr_critical_infrastructure",
        "high_risk",
        "Is it a safety component in the management and operation of critical digital infrastructure, road "
        "traffic, or the supply of water, gas, heating or electricity?",
        "Annex III, point 2",
        "critical infrastructure",
    ),
    Question(
        "hr_education",
        "high_risk",
        "Does it determine access or admission to education or vocational training, evaluate learning "
        "outcomes, assess the level of education a person will receive, or monitor prohibited behaviour in tests?",
        "Annex III, point 3",
        "education and vocational training",
    ),
    Question(
        "hr_employment",
        "high_risk",
        "Is it used for recruitment or selection (targeted job ads, filtering applications, evaluating "
        "candidates), or for decisions on promotion, termination, task allocation or monitoring and "
        "evaluating the performance and behaviour of workers?",
        "Annex III, point 4",
        "employment, workers management and access to self-employment",
    ),
    Question(
        "hr_essential_services",
        "high_risk",
        "Does it evaluate eligibility for public assistance benefits and services, evaluate creditworthiness "
        "or establish a credit score (other than to detect financial fraud), assess risk and set prices in "
        "life and health insurance, or evaluate emergency calls, dispatch emergency services or triage patients?",
        "Annex III, point 5",
        "access to essential private and public services and benefits",
    ),
    Question(
        "hr_law_enforcement",
        "high_risk",
        "Is it used by or for law enforcement to assess the risk of a person becoming a victim or offending, as "
        "a polygraph, to evaluate the reliability of evidence, or to profile people in detecting, investigating "
        "or prosecuting criminal offences?",
        "Annex III, point 6",
        "law enforcement",
    ),
    Question(
        "hr_migration",
        "high_risk",
        "Is it used in migration, asylum or border control: as a polygraph, to assess the security, health or "
        "irregular-migration risk of a person, to examine applications for asylum, visas or residence permits, "
        "or to detect, recognise or identify people (other than verifying travel documents)?",
        "Annex III, point 7",
        "migration, asylum and border control management",
    ),
    Question(
        "hr_justice_democracy",
        "high_risk",
        "Does it assist a judicial authority (or alternative dispute resolution) in researching and "
        "interpreting facts and the law and applying the law, or is it intended to influence the outcome of an "
        "election or referendum or people's voting behaviour?",
        "Annex III, point 8",
        "administration of justice and democratic processes",
    ),
    Question(
        "hr_derogation",
        "high_risk",
        "For a use in an Annex III area: does the system pose no significant risk of harm because it only "
        "performs a narrow procedural task, improves the result of a completed human activity, detects "
        "decision-making patterns without replacing or influencing the human assessment, or performs a "
        "preparatory task?",
        "Art. 6(3)",
        "Art. 6(3) derogation",
        required=False,
        help="Leave unanswered (or false) unless the provider has documented this assessment (Art. 6(4)).",
    ),
    Question(
        "hr_profiling",
        "high_risk",
        "Does the system perform profiling of natural persons?",
        "Art. 6(3), last subparagraph",
        "profiling of natural persons",
        required=False,
        help="Needed when the Art. 6(3) derogation is claimed: a system that profiles people is always high-risk.",
    ),
    # -- Art. 50: transparency ----------------------------------------------------------------------
    Question(
        "t_interacts",
        "transparency",
        "Does the system interact directly with people (e.g. a chatbot or voice assistant), where it is not "
        "obvious that they are dealing with an AI system?",
        "Art. 50(1)",
        "interacts directly with people",
    ),
    Question(
        "t_synthetic_content",
        "transparency",
        "Does it generate synthetic audio, image, video or text content?",
        "Art. 50(2)",
        "generates synthetic content",
    ),
    Question(
        "t_emotion_biometric",
        "transparency",
        "Is it an emotion recognition or biometric categorisation system that people are exposed to?",
        "Art. 50(3)",
        "emotion recognition or biometric categorisation",
    ),
    Question(
        "t_deepfake",
        "transparency",
        "Does it generate or manipulate image, audio or video content that is a deep fake?",
        "Art. 50(4)",
        "deep fakes",
    ),
    Question(
        "t_public_text",
        "transparency",
        "Does it generate or manipulate text published to inform the public on matters of public interest "
        "(without human editorial review and responsibility)?",
        "Art. 50(4), second subparagraph",
        "AI-generated text on matters of public interest",
    ),
    # -- general-purpose AI models ------------------------------------------------------------------
    Question(
        "gpai",
        "gpai",
        "Is the model (or the model the system is built on, when you provide it) a general-purpose AI model: "
        "trained on broad data, of significant generality, competent at a wide range of distinct tasks and "
        "integrable into a variety of downstream systems?",
        "Art. 3(63)",
        "general-purpose AI model",
    ),
    Question(
        "gpai_training_flops",
        "gpai",
        "The cumulative compute used to train the general-purpose model, in floating-point operations.",
        "Art. 51(2)",
        "training compute",
        answer_type="number",
        required=False,
        help="Above 1e25 FLOPs a model is presumed to have high-impact capabilities (systemic risk).",
    ),
    Question(
        "gpai_designated",
        "gpai",
        "Has the Commission designated the model as a general-purpose AI model with systemic risk?",
        "Art. 51(1)(b), Art. 52",
        "designated as having systemic risk",
        required=False,
    ),
    Question(
        "gpai_open_source",
        "gpai",
        "Is the model released under a free and open-source licence with its parameters, architecture and "
        "usage information made public?",
        "Art. 53(2)",
        "released as free and open-source",
        required=False,
    ),
)
_BY_ID = {q.id: q for q in QUESTIONS}

_ALWAYS = [Obligation(reference="Art. 4", text="AI literacy: staff who operate or use the system are trained.")]
_PROHIBITED = [
    Obligation(
        reference="Art. 5",
        text="The practice is prohibited: the system may not be placed on the market, put into service or used "
        "in the Union (applies from 2 February 2025; fines up to EUR 35 million or 7% of turnover, Art. 99(3)).",
    )
]
_HIGH_RISK = [
    Obligation(reference="Art. 9", text="A risk management system over the whole lifecycle."),
    Obligation(
        reference="Art. 10", text="Data governance: relevant, representative training, validation and test data."
    ),
    Obligation(reference="Art. 11, Annex IV", text="Technical documentation before placing on the market."),
    Obligation(reference="Art. 12", text="Automatic logging of events (record-keeping)."),
    Obligation(reference="Art. 13", text="Transparency and instructions for use for deployers."),
    Obligation(reference="Art. 14", text="Human oversight designed in."),
    Obligation(reference="Art. 15", text="Accuracy, robustness and cybersecurity."),
    Obligation(reference="Art. 17", text="A quality management system."),
    Obligation(reference="Art. 43, 47, 48", text="Conformity assessment, EU declaration of conformity, CE marking."),
    Obligation(reference="Art. 49", text="Registration in the EU database."),
    Obligation(reference="Art. 72, 73", text="Post-market monitoring and reporting of serious incidents."),
    Obligation(
        reference="Art. 26, 27",
        text="Deployers: use per the instructions, oversight, logs; a fundamental rights impact assessment "
        "for public bodies, public services, credit scoring and life and health insurance.",
    ),
]
_TRANSPARENCY = {
    "t_interacts": "Inform people that they are interacting with an AI system.",
    "t_synthetic_content": "Mark the outputs in a machine-readable format as artificially generated or manipulated.",
    "t_emotion_biometric": "Inform the people exposed to the system of its operation (and process data per GDPR).",
    "t_deepfake": "Disclose that the content has been artificially generated or manipulated.",
    "t_public_text": "Disclose that the text has been artificially generated or manipulated.",
}
_GPAI = [
    Obligation(reference="Art. 53(1)(a), Annex XI", text="Technical documentation of the model, for the AI Office."),
    Obligation(reference="Art. 53(1)(b), Annex XII", text="Information and documentation for downstream providers."),
    Obligation(reference="Art. 53(1)(c)", text="A policy to comply with Union copyright law."),
    Obligation(reference="Art. 53(1)(d)", text="A public summary of the content used for training."),
    Obligation(
        reference="Art. 54", text="An authorised representative in the Union (providers established outside it)."
    ),
]
_SYSTEMIC = [
    Obligation(reference="Art. 52", text="Notify the Commission within two weeks of meeting the threshold."),
    Obligation(
        reference="Art. 55",
        text="Model evaluation with adversarial testing, assessment and mitigation of systemic risks, "
        "serious-incident reporting to the AI Office, and adequate cybersecurity.",
    ),
]


def questionnaire() -> QuestionnaireRead:
    """The intake questionnaire as data."""
    return QuestionnaireRead(
        version=QUESTIONNAIRE_VERSION,
        regulation=REGULATION,
        questions=[
            QuestionRead(
                id=q.id,
                section=q.section,
                text=q.text,
                reference=q.reference,
                answer_type=q.answer_type,
                required=q.required,
                help=q.help,
            )
            for q in QUESTIONS
        ],
    )


def _checked(answers: Mapping[str, Any]) -> dict[str, Answer]:
    """The answers, each of its question's type; unknown questions, wrong types and missing answers refused."""
    problems: list[str] = []
    out: dict[str, Answer] = {}
    for key, value in answers.items():
        question = _BY_ID.get(key)
        if question is None:
            problems.append(f"{key!r} is not a question of the questionnaire")
        elif value is None:
            out[key] = None
        elif question.answer_type == "boolean":
            if not isinstance(value, bool):
                problems.append(f"{key}: answer true or false, not {value!r}")
            out[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            problems.append(f"{key}: answer a number of at least 0, not {value!r}")
        else:
            out[key] = value
    missing = [q.id for q in QUESTIONS if q.required and out.get(q.id) is None]
    if out.get("hr_derogation") is True and out.get("hr_profiling") is None:
        missing.append("hr_profiling")
    if missing:
        problems.append("unanswered: " + ", ".join(missing))
    if problems:
        raise InvalidInput(
            "The questionnaire answers are not complete or not valid: " + "; ".join(problems),
            details={"problems": problems, "missing": missing},
        )
    return out


def _reason(question: Question, answer: Answer, text: str) -> ClassificationReason:
    return ClassificationReason(question=question.id, answer=answer, reference=question.reference, text=text)


def classify(answers: Mapping[str, Any]) -> ClassificationResult:
    """The EU AI Act category of a system from its questionnaire answers, with the reasons and obligations."""
    given = _checked(answers)

    def yes(question_id: str) -> bool:
        return given.get(question_id) is True

    reasons: list[ClassificationReason] = []
    prohibited = [q for q in QUESTIONS if q.section == "prohibited" and yes(q.id)]
    for q in prohibited:
        reasons.append(_reason(q, True, f"Prohibited practice: {q.short}."))

    high = False
    if yes("hr_product_safety"):
        high = True
        q = _BY_ID["hr_product_safety"]
        reasons.append(_reason(q, True, f"High-risk under Art. 6(1): {q.short}."))
    areas = [q for q in QUESTIONS if q.section == "high_risk" and q.reference.startswith("Annex III") and yes(q.id)]
    derogation = yes("hr_derogation")
    profiling = yes("hr_profiling")
    for q in areas:
        if derogation and not profiling:
            reasons.append(
                _reason(
                    q,
                    True,
                    f"Annex III area ({q.short}), but not high-risk under the Art. 6(3) derogation: document the "
                    "assessment before placing it on the market (Art. 6(4)) and register it (Art. 49(2)).",
                )
            )
        else:
            high = True
            reasons.append(_reason(q, True, f"High-risk use under Art. 6(2) and Annex III: {q.short}."))
    if areas and derogation and profiling:
        q = _BY_ID["hr_profiling"]
        reasons.append(_reason(q, True, "The Art. 6(3) derogation does not apply: the system profiles people."))

    transparency = [q for q in QUESTIONS if q.section == "transparency" and yes(q.id)]
    for q in transparency:
        reasons.append(_reason(q, True, f"Transparency obligation under {q.reference}: {q.short}."))

    category: Category
    if prohibited:
        category = "prohibited"
    elif high:
        category = "high_risk"
    elif transparency:
        category = "limited"
    else:
        category = "minimal"
        reasons.append(
            ClassificationReason(
                question="*",
                answer=None,
                reference="Art. 5, Art. 6, Annex III, Art. 50",
                text="No prohibited practice, no high-risk use and no transparency obligation applies: minimal risk.",
            )
        )

    obligations = list(_ALWAYS)
    if category == "prohibited":
        obligations += _PROHIBITED
    elif category == "high_risk":
        obligations += _HIGH_RISK
    for q in transparency:
        obligations.append(Obligation(reference=q.reference, text=_TRANSPARENCY[q.id]))

    gpai = yes("gpai")
    systemic = False
    if gpai:
        reasons.append(
            _reason(_BY_ID["gpai"], True, "A general-purpose AI model: Art. 53 and 54 apply to its provider.")
        )
        flops = given.get("gpai_training_flops")
        if isinstance(flops, int | float) and not isinstance(flops, bool) and flops > SYSTEMIC_FLOPS:
            systemic = True
            reasons.append(
                _reason(
                    _BY_ID["gpai_training_flops"],
                    flops,
                    f"Trained with {flops:.3g} FLOPs, more than 1e25: presumed to have systemic risk (Art. 51(2)).",
                )
            )
        if yes("gpai_designated"):
            systemic = True
            reasons.append(
                _reason(_BY_ID["gpai_designated"], True, "Designated by the Commission as having systemic risk.")
            )
        open_source = yes("gpai_open_source")
        if open_source and not systemic:
            reasons.append(
                _reason(
                    _BY_ID["gpai_open_source"],
                    True,
                    "Free and open-source: exempt from Art. 53(1)(a), (b) and Art. 54 (Art. 53(2)); the copyright "
                    "policy and the training-content summary still apply.",
                )
            )
            obligations += [o for o in _GPAI if o.reference.startswith(("Art. 53(1)(c)", "Art. 53(1)(d)"))]
        else:
            obligations += _GPAI
        if systemic:
            obligations += _SYSTEMIC

    return ClassificationResult(
        category=category,
        gpai=gpai,
        gpai_systemic_risk=systemic,
        reasons=reasons,
        obligations=obligations,
        proposed_tier=TIERS[category],
    )
