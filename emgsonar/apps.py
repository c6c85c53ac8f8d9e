from django.apps import AppConfig


class EmgsonarConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "emgsonar"
