from django.apps import AppConfig


class EnaLikeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ena_like"
