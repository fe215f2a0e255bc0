"""A store's order data, per bot: customers, products, orders, lines, fulfilments, payments.

Shaped after real store exports (the tau2 retail data set imports as it is): ids are the
store's own strings, addresses and options stay as the JSON the store sent.
"""

from django.db import models

from conversations.models.bots import Bot

MONEY = {"max_digits": 12, "decimal_places": 2}


class StoreCustomer(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="store_customers")
    external_id = models.CharField(max_length=128)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField()
    address = models.JSONField(default=dict, blank=True)
    payment_methods = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "external_id"], name="storecustomer_unique_id"),
        ]
        indexes = [models.Index(fields=["bot", "email"], name="storecustomer_bot_email")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"


class Product(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="products")
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "external_id"], name="product_unique_id"),
        ]

    def __str__(self) -> str:
        return self.name


class ProductVariant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    item_id = models.CharField(max_length=64)
    options = models.JSONField(default=dict, blank=True)
    price = models.DecimalField(**MONEY)
    available = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "item_id"], name="variant_unique_item"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} {self.item_id}"


class Order(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="orders")
    number = models.CharField(
        max_length=64, help_text='The number customers see, e.g. "#W2611340".'
    )
    customer = models.ForeignKey(StoreCustomer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=40)
    shipping_address = models.JSONField(default=dict, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    total = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, default="USD")

    class Meta:
        ordering = ["-placed_at", "number"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "number"], name="order_unique_number"),
        ]
        indexes = [models.Index(fields=["customer", "-placed_at"], name="order_customer_placed")]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    product_id = models.CharField(max_length=64)
    item_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    options = models.JSONField(default=dict, blank=True)
    price = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="orderline_unique_position"),
        ]

    def __str__(self) -> str:
        return self.name


class Fulfillment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfillments")
    position = models.PositiveIntegerField()
    tracking_numbers = models.JSONField(default=list, blank=True)
    item_ids = models.JSONField(default=list, blank=True)
    carrier = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "position"], name="fulfillment_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return ", ".join(self.tracking_numbers) or "untracked"


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    position = models.PositiveIntegerField()
    transaction_type = models.CharField(max_length=20, help_text="payment or refund")
    amount = models.DecimalField(**MONEY)
    method_id = models.CharField(max_length=64)
    method = models.JSONField(default=dict, blank=True, help_text="Source, brand, last four.")

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="payment_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount}"
