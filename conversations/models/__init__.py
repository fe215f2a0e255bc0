"""Supportbot's data model: bots, customers, conversations, messages, tool runs, store data."""

from conversations.models.agents import AgentProfile, SavedReply
from conversations.models.api import (
    ApiKey,
    ApiScope,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from conversations.models.bots import Bot, Customer, ModelName, RetentionAction, VerifiedBy
from conversations.models.chat import (
    Attachment,
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
    ReplyDraft,
    ToolRun,
    ToolRunStatus,
)
from conversations.models.engine import ContextSummary
from conversations.models.evaluation import EvaluationCaseResult, EvaluationRun
from conversations.models.knowledge import Article, ArticleFormat, FaqEntry, FaqRouter, Passage
from conversations.models.shop import (
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    Product,
    ProductVariant,
    StoreCustomer,
)
from conversations.models.tools import (
    OrderAccessGrant,
    OrderAction,
    OrderActionStatus,
    OrderProofAttempt,
    OrderProofLimit,
)

__all__ = [
    "AgentProfile",
    "ApiKey",
    "ApiScope",
    "Article",
    "ArticleFormat",
    "Attachment",
    "Bot",
    "ContextSummary",
    "Conversation",
    "ConversationStatus",
    "Customer",
    "EvaluationCaseResult",
    "EvaluationRun",
    "FaqEntry",
    "FaqRouter",
    "Fulfillment",
    "Message",
    "MessageRole",
    "MessageState",
    "ModelName",
    "Order",
    "OrderAccessGrant",
    "OrderAction",
    "OrderActionStatus",
    "OrderLine",
    "OrderProofAttempt",
    "OrderProofLimit",
    "Passage",
    "Payment",
    "Product",
    "ProductVariant",
    "ReplyDraft",
    "RetentionAction",
    "SavedReply",
    "StoreCustomer",
    "ToolRun",
    "ToolRunStatus",
    "VerifiedBy",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
