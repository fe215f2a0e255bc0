"""Supportbot's data model: bots, customers, conversations, messages, tool runs, store data."""

from conversations.models.bots import Bot, Customer, ModelName, RetentionAction
from conversations.models.chat import (
    Attachment,
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
    ToolRun,
    ToolRunStatus,
)
from conversations.models.knowledge import FaqEntry
from conversations.models.store import (
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    Product,
    ProductVariant,
    StoreCustomer,
)

__all__ = [
    "Attachment",
    "Bot",
    "Conversation",
    "ConversationStatus",
    "Customer",
    "FaqEntry",
    "Fulfillment",
    "Message",
    "MessageRole",
    "MessageState",
    "ModelName",
    "Order",
    "OrderLine",
    "Payment",
    "Product",
    "ProductVariant",
    "RetentionAction",
    "StoreCustomer",
    "ToolRun",
    "ToolRunStatus",
]
