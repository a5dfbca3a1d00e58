from services.records.app import create_app

app = create_app()
