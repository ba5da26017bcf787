# Production image: gunicorn + whitenoise for the web, the same image for worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ENVIRONMENT=production
WORKDIR /app
COPY requirements/prod.lock requirements/prod.lock
RUN pip install --no-cache-dir -r requirements/prod.lock
COPY . .
RUN SECRET_KEY=build FIELD_ENCRYPTION_KEY=$(python -c "import base64;print(base64.urlsafe_b64encode(b'0'*32).decode())") \
    ALLOWED_HOSTS=build python manage.py collectstatic --no-input -v 0
RUN useradd --create-home app && mkdir -p /app/var && chown app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "importcenter.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
