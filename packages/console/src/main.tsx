import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { takeFragmentKey } from './session';
import './styles.css';

// Before anything renders: the `#key=` of the printed admin link leaves the address bar at once.
takeFragmentKey();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
