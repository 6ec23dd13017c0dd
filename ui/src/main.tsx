import { createRoot } from 'react-dom/client';
import { takeKeyFromFragment } from './api.ts';
import { App } from './App.tsx';
import './styles.css';

takeKeyFromFragment();
createRoot(document.getElementById('root')!).render(<App />);
