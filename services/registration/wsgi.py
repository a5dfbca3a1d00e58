from services.registration.app import create_app

app = create_app()
