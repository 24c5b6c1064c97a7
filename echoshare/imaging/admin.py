from django.contrib import admin

from echoshare.imaging.models import DeviceRule


@admin.register(DeviceRule)
class DeviceRuleAdmin(admin.ModelAdmin):
    list_display = ("manufacturer", "model_name", "columns", "rows", "active", "created_at")
    list_filter = ("active", "manufacturer")
    search_fields = ("manufacturer", "model_name", "note")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
