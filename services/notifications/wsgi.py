from services.notifications.app import create_app

app = create_app()
